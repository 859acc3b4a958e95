"""The flow end to end under Prefect's test harness, on both databases."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from flows.app_mentions import app_mentions
from sinks.tables import app_mentions as mentions_table
from sinks.tables import app_mentions_latest, appbuzz_runs
from tests.support.catalogues import ROWS, top_apps

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_flow_loads_ten_rows_and_a_rerun_replaces_them(
    catalogue_csv: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", database_url)
    for _ in range(2):
        summary = app_mentions(
            csv_path=catalogue_csv, snapshot_date=date(2026, 11, 20), out_dir=tmp_path / "out"
        )
    assert summary.run.selection == "Book+Music/top10" and summary.run.rows_read == ROWS
    engine = create_engine(database_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(mentions_table)) == 10
        assert connection.scalar(select(func.count()).select_from(appbuzz_runs)) == 2
        latest = connection.execute(
            select(app_mentions_latest.c.id, app_mentions_latest.c.track_name).order_by(
                app_mentions_latest.c.rank
            )
        ).all()
        runs = connection.execute(select(appbuzz_runs)).mappings().all()
    engine.dispose()
    files = json.loads((tmp_path / "out" / "apps.json").read_text(encoding="utf-8"))
    assert [(r["id"], r["track_name"]) for r in files] == [tuple(r) for r in latest]
    assert latest[0].track_name == top_apps(catalogue_csv)["track_name"][0]
    assert {r["status"] for r in runs} == {"completed"}
    assert {r["mentions_skipped"] for r in runs} == {10}
    assert all(len(r["source_sha256"]) == 64 for r in runs)


def test_genres_and_top_n_shape_the_selection(
    catalogue_csv: Path, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", sqlite_url)
    summary = app_mentions(
        csv_path=catalogue_csv,
        genres=["Games"],
        top_n=3,
        out_dir=tmp_path,
        snapshot_date=date(2026, 1, 2),
    )
    assert summary.run.selection == "Games/top3"
    rows = json.loads((tmp_path / "apps.json").read_text(encoding="utf-8"))
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert {r["prime_genre"] for r in rows} == {"Games"}
    assert rows[0]["snapshot_date"] == "2026-01-02"


def test_too_many_bad_rows_fail_the_flow_as_rejected_and_write_nothing(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", sqlite_url)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,track_name,size_bytes,price,rating_count_tot,user_rating,prime_genre\n"
        "1,Good,10,0,5,4,Music\n2,Bad,10,-1,5,4,Music\n",
        encoding="utf-8",
    )
    state = app_mentions(csv_path=bad, out_dir=tmp_path / "out", return_state=True)
    assert state.is_failed() and state.name == "Rejected"
    assert "1 of 2 rows fail validation" in state.message and "column price" in state.message
    assert not (tmp_path / "out").exists()
