"""What a person sees in the Prefect UI: the ranked table and a run summary."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from transforms.cost import ZERO, usd


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(
    run: Mapping[str, Any], rows: pl.DataFrame, outputs: Mapping[str, Path]
) -> str:
    """A short report: what was read and rejected, the top list, failed apps, where outputs went."""
    lines = [
        f"# appbuzz {run['selection']} on {run['snapshot_date']}",
        "",
        f"- source: `{run['source_path']}` (sha256 `{(run.get('source_sha256') or '')[:12]}`)",
        f"- rows read: {run['rows_read']:,}; rejected: {run['rows_rejected']:,}",
        f"- strategy: {run['strategy']}; X requests: {run.get('x_requests') or 0}; "
        f"posts consumed: {run.get('posts_consumed') or 0}; "
        f"spent: {usd(run.get('x_cost_usd') or ZERO)} (cap {usd(run.get('max_spend_usd') or ZERO)})",
        f"- mentions: ok {run.get('mentions_ok') or 0}, capped {run.get('mentions_capped') or 0}, "
        f"failed {run.get('mentions_failed') or 0}, skipped {run.get('mentions_skipped') or 0}",
        "",
        "| rank | id | track_name | n_citacoes | status |",
        "|---:|---:|---|---:|---|",
    ]
    lines += [
        f"| {r['rank']} | {r['id']} | {_cell(r['track_name'])} | {_cell(r['n_citacoes'])} "
        f"| {r['mention_status']} |"
        for r in rows.iter_rows(named=True)
    ]
    failed = rows.filter(pl.col("mention_status") == "failed")
    if failed.height:
        lines += ["", "## Failed apps", ""]
        lines += [
            f"- {_cell(r['track_name'])} (id {r['id']})" for r in failed.iter_rows(named=True)
        ]
    lines += ["", "## Outputs", ""]
    lines += [f"- [{name}]({path.resolve().as_uri()})" for name, path in outputs.items()]
    return "\n".join(lines) + "\n"


def publish_artifacts(
    run: Mapping[str, Any], rows: pl.DataFrame, outputs: Mapping[str, Path]
) -> list[UUID]:
    """Create the table and markdown artifacts of one run; keys group them across runs."""
    table = rows.with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts()
    return [
        create_table_artifact(
            key="app-mentions-top",
            table=table,
            description=f"Top apps, {run['selection']} on {run['snapshot_date']}",
        ),
        create_markdown_artifact(
            key="app-mentions-summary",
            markdown=summary_markdown(run, rows, outputs),
            description=f"appbuzz run {run['run_id']}",
        ),
    ]
