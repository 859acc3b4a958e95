"""What a person sees in the Prefect UI: the ranked table and a run summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from transforms.cost import ZERO, usd
from transforms.mentions import MentionStatus
from transforms.run_record import RunRecord
from transforms.trends import describe_change, spike_words, spikes, trend_note


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _change(row: Mapping[str, Any]) -> str:
    if row["n_citacoes"] is None:
        return "not counted"
    return describe_change(row["change"], row["change_pct"])


def summary_markdown(run: RunRecord, rows: pl.DataFrame, outputs: Mapping[str, Path]) -> str:
    """A short report: what was read and rejected, the top list, failed apps, where outputs went."""
    lines = [
        f"# appbuzz {run.selection} on {run.snapshot_date}",
        "",
        f"- source: `{run.source_path}` (sha256 `{(run.source_sha256 or '')[:12]}`)",
        f"- rows read: {run.rows_read or 0:,}; rejected: {run.rows_rejected or 0:,}",
        f"- strategy: {run.strategy}; X requests: {run.x_requests or 0}; "
        f"posts consumed: {run.posts_consumed or 0}; "
        f"spent: {usd(run.x_cost_usd or ZERO)} (cap {usd(run.max_spend_usd or ZERO)})",
        f"- mentions: ok {run.mentions_ok or 0}, capped {run.mentions_capped or 0}, "
        f"failed {run.mentions_failed or 0}, skipped {run.mentions_skipped or 0}",
        "",
    ]
    trended = "spike" in rows.columns  # the change columns, beside each app when present
    if trended:
        lines.insert(-1, f"- {trend_note(rows)}")
    lines += [
        "| rank | id | track_name | n_citacoes | status |"
        + (" change since the night before | spike |" if trended else ""),
        "|---:|---:|---|---:|---|" + ("---:|---|" if trended else ""),
    ]
    lines += [
        f"| {r['rank']} | {r['id']} | {_cell(r['track_name'])} | {_cell(r['n_citacoes'])} "
        f"| {r['mention_status']} |"
        + (f" {_change(r)} | {'SPIKE' if r['spike'] else ''} |" if trended else "")
        for r in rows.iter_rows(named=True)
    ]
    if trended and spikes(rows).height:
        lines += ["", "## Spikes", ""]
        lines += [
            f"- {_cell(spike_words(r))}, id {r['id']}" for r in spikes(rows).iter_rows(named=True)
        ]
    failed = rows.filter(pl.col("mention_status") == MentionStatus.FAILED.value)
    if failed.height:
        lines += ["", "## Failed apps", ""]
        lines += [
            f"- {_cell(r['track_name'])} (id {r['id']})" for r in failed.iter_rows(named=True)
        ]
    lines += ["", "## Outputs", ""]
    lines += [f"- [{name}]({path.resolve().as_uri()})" for name, path in outputs.items()]
    return "\n".join(lines) + "\n"


def publish_artifacts(
    run: RunRecord,
    rows: pl.DataFrame,
    outputs: Mapping[str, Path],
    night: pl.DataFrame | None = None,
) -> list[UUID]:
    """Create the table (`rows`, the files' columns) and markdown artifacts of one run; keys
    group them across runs. The summary words spikes from `night` (with each app's judged day)
    when given."""
    table = rows.with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts()
    # sync callers get the id (Prefect's sync_compatible types the coroutine too)
    return [
        create_table_artifact(  # type: ignore[list-item]
            key="app-mentions-top",
            table=table,
            description=f"Top apps, {run.selection} on {run.snapshot_date}",
        ),
        create_markdown_artifact(  # type: ignore[list-item]
            key="app-mentions-summary",
            markdown=summary_markdown(run, rows if night is None else night.sort("rank"), outputs),
            description=f"appbuzz run {run.run_id}",
        ),
    ]
