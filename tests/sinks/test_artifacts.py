"""The run summary a person reads in the Prefect UI: outputs linked, failed apps listed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from sinks.artifacts import summary_markdown
from transforms.run_record import RunRecord, RunStatus

RUN = RunRecord(
    run_id="r1",
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
    )
    text = summary_markdown(RUN, trended, {"apps.csv": tmp_path / "apps.csv"})
    assert "- biggest mover Pandora - Music & Radio +1,000 (+200%); spike: Pandora" in text
    assert (
        "| 1 | 284035177 | Pandora - Music & Radio | 1500 | ok | +1,000 (+200%) | SPIKE |" in text
    )
    assert "| 2 | 324684580 | Spotify \\| Music | 7 | ok | -2 (-22%) |  |" in text
    assert "| 3 | 284993459 | Shazam |  | failed | not counted |  |" in text
    spikes = text.split("## Spikes", 1)[1].split("##", 1)[0]
    assert spikes.strip() == (
        "- Pandora - Music & Radio (id 284035177): 1,500 mentions, +1,000 (+200%) since the "
        "night before"
    )
