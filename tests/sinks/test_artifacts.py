"""The run summary a person reads in the Prefect UI: outputs linked, failed apps listed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import polars as pl

from sinks.artifacts import summary_markdown

RUN = {
    "selection": "Book+Music/top10",
    "snapshot_date": date(2026, 11, 28),
    "source_path": "/srv/appbuzz/AppleStore.csv",
    "source_sha256": "ab" * 32,
    "rows_read": 7197,
    "rows_rejected": 0,
    "strategy": "counts",
    "x_requests": 3,
    "mentions_ok": 2,
    "mentions_failed": 1,
}


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


def test_the_summary_shows_what_the_run_spent_and_its_cap(tmp_path: Path) -> None:
    run = {**RUN, "posts_consumed": 0, "x_cost_usd": Decimal("0.015"), "max_spend_usd": Decimal(1)}
    text = summary_markdown(run, rows(["ok", "ok"]), {"apps.csv": tmp_path / "apps.csv"})
    assert (
        "- strategy: counts; X requests: 3; posts consumed: 0; spent: 0.015 USD (cap 1.00 USD)"
        in text
    )
