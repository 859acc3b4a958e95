"""The run summary a person reads in the Prefect UI: outputs linked, failed apps listed; and\nthe artifacts as Prefect stores them."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from uuid import UUID

import polars as pl
import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import ArtifactFilter
from prefect.context import FlowRunContext, get_run_context

from sinks.artifacts import publish_artifacts, summary_markdown
from transforms.run_record import RunRecord, RunStatus

RUN = RunRecord(
    run_id="r-42",
    flow_run_id=None,
    snapshot_date=date(2026, 11, 28),
    selection="Book+Music/top10",
    started_at=datetime(2026, 11, 28, 3, tzinfo=UTC),
    finished_at=datetime(2026, 11, 28, 3, 1, tzinfo=UTC),
    status=RunStatus.COMPLETED,
    source_path="/srv/appbuzz/AppleStore.csv",
    source_sha256="ab" * 32,
    rows_read=7197,
    rows_rejected=0,
    strategy="counts",
    x_requests=3,
    mentions_ok=2,
    mentions_failed=1,
)


def rows(statuses: list[str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "rank": list(range(1, len(statuses) + 1)),
            "id": [284035177, 324684580, 284993459][: len(statuses)],
            "track_name": ["Pandora - Music & Radio", "Spotify | Music", "Shazam"][: len(statuses)],
            "n_citacoes": [None if s == "failed" else 7 for s in statuses],
            "mention_status": statuses,
        }
    )


def test_failed_apps_are_listed_and_outputs_linked(tmp_path: Path) -> None:
    outputs = {"apps.csv": tmp_path / "apps.csv", "apps.json": tmp_path / "apps.json"}
    text = summary_markdown(RUN, rows(["ok", "failed", "ok"]), outputs)
    failed = text.split("## Failed apps", 1)[1].split("##", 1)[0]
    assert failed.strip() == "- Spotify \\| Music (id 324684580)"
    assert f"- [apps.csv]({(tmp_path / 'apps.csv').as_uri()})" in text
    assert f"- [apps.json]({(tmp_path / 'apps.json').as_uri()})" in text
    assert text.startswith("# appbuzz Book+Music/top10 on 2026-11-28")
    assert "mentions: ok 2, capped 0, failed 1, skipped 0" in text


def test_no_failed_section_when_every_app_was_counted(tmp_path: Path) -> None:
    text = summary_markdown(RUN, rows(["ok", "ok"]), {"apps.csv": tmp_path / "apps.csv"})
    assert "Failed apps" not in text and "| 2 | 324684580 | Spotify \\| Music | 7 | ok |" in text


def test_change_and_spikes_stand_beside_each_app(tmp_path: Path) -> None:
    trended = rows(["ok", "ok", "failed"]).with_columns(
        n_citacoes=pl.Series([1500, 7, None]),
        change=pl.Series([1000, -2, None]),
        change_pct=pl.Series([200.0, -22.22, None]),
        spike=pl.Series([True, False, None]),
        # the verdict on each app's last whole day, which the spike is about
        day=pl.Series([date(2026, 11, 27)] * 2 + [None], dtype=pl.Date),
        day_mentions=pl.Series([610, 1, None]),
        median=pl.Series([150.0, 1.0, None]),
    )
    text = summary_markdown(RUN, trended, {"apps.csv": tmp_path / "apps.csv"})
    assert "- biggest mover Pandora - Music & Radio +1,000 (+200%); spike: Pandora" in text
    assert (
        "| 1 | 284035177 | Pandora - Music & Radio | 1500 | ok | +1,000 (+200%) | SPIKE |" in text
    )
    assert "| 2 | 324684580 | Spotify \\| Music | 7 | ok | -2 (-22%) |  |" in text
    assert "| 3 | 284993459 | Shazam |  | failed | not counted |  |" in text
    spikes = text.split("## Spikes", 1)[1].split("##", 1)[0]
    assert spikes.strip() == "- Pandora - Music & Radio (610 on 27 Nov, usually 150), id 284035177"


@pytest.mark.usefixtures("prefect_harness")
def test_published_artifacts_read_back_from_prefect(tmp_path: Path) -> None:
    """Inside a flow run, as the pipeline does: the table and summary land on that run."""
    outputs = {"apps.csv": tmp_path / "apps.csv"}
    published = rows(["ok", "failed"]).with_columns(snapshot_date=pl.lit(date(2026, 11, 28)))

    @flow
    def publish() -> tuple[list[UUID], UUID]:
        run_context = get_run_context()
        assert isinstance(run_context, FlowRunContext) and run_context.flow_run is not None
        return publish_artifacts(RUN, published, outputs), run_context.flow_run.id

    ids, flow_run_id = publish()
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(id={"any_": ids}))
    by_key = {a.key: a for a in found}
    assert set(by_key) == {"app-mentions-top", "app-mentions-summary"}
    assert {a.flow_run_id for a in found} == {flow_run_id}
    table, summary = by_key["app-mentions-top"], by_key["app-mentions-summary"]
    assert table.type == "table" and summary.type == "markdown"
    cells = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["id"], r["mention_status"], r["snapshot_date"]) for r in cells] == [
        (284035177, "ok", "2026-11-28"),
        (324684580, "failed", "2026-11-28"),
    ]
    assert summary.data == summary_markdown(RUN, published, outputs)
    assert summary.description == "appbuzz run r-42"
    assert table.description == "Top apps, Book+Music/top10 on 2026-11-28"


def test_the_summary_shows_what_the_run_spent_and_its_cap(tmp_path: Path) -> None:
    run = dataclasses.replace(
        RUN, posts_consumed=0, x_cost_usd=Decimal("0.015"), max_spend_usd=Decimal(1)
    )
    text = summary_markdown(run, rows(["ok", "ok"]), {"apps.csv": tmp_path / "apps.csv"})
    assert (
        "- strategy: counts; X requests: 3; posts consumed: 0; spent: 0.015 USD (cap 1.00 USD)"
        in text
    )
