"""Snapshot loads on SQLite and PostgreSQL: replace, never duplicate, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from sinks.database import check_database, make_engine, replace_snapshot
from sinks.files import OUTPUT_COLUMNS
from sinks.tables import app_mentions, app_mentions_latest, appbuzz_runs
from transforms.run_record import RunRecord, RunStatus


def run_record(run_id: str, snapshot: date, selection: str = "Book+Music/top2") -> RunRecord:
    now = datetime.now(UTC)
    return RunRecord(
        run_id=run_id,
        flow_run_id=None,
        snapshot_date=snapshot,
        selection=selection,
        started_at=now,
        finished_at=now,
        status=RunStatus.COMPLETED,
        source_path="x.csv",
        strategy="counts",
    )


def mention(app_id: int, rank: int, run: RunRecord, n: int | None = 5) -> dict:
    return {
        "snapshot_date": run.snapshot_date,
        "selection": run.selection,
        "app_id": app_id,
        "rank": rank,
        "track_name": f"App {app_id} – ünïcode",
        "prime_genre": "Music",
        "size_bytes": 10,
        "price": 0.99,
        "rating_count_tot": 100 - rank,
        "n_citacoes": n,
        "mention_status": "ok" if n is not None else "skipped",
        "x_requests": 1,
        "run_id": run.run_id,
        "loaded_at": run.finished_at,
    }


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """The tables, and run r1's snapshot of 2026-11-01 (apps 1 and 2) loaded."""
    engine = make_engine(database_url)
    check_database(engine)
    first = run_record("r1", date(2026, 11, 1))
    replace_snapshot(engine, first, [mention(1, 1, first), mention(2, 2, first)])
    yield engine
    engine.dispose()


def test_rerun_replaces_the_snapshot_and_view_shows_newest(engine: Engine) -> None:
    again = run_record("r2", date(2026, 11, 1))
    replace_snapshot(engine, again, [mention(1, 1, again, 7), mention(3, 2, again, None)])
    later = run_record("r3", date(2026, 11, 2))
    replace_snapshot(engine, later, [mention(4, 1, later)])
    with engine.connect() as connection:
        rows = connection.execute(
            select(app_mentions.c.app_id, app_mentions.c.n_citacoes)
            .where(app_mentions.c.snapshot_date == date(2026, 11, 1))
            .order_by(app_mentions.c.rank)
        ).all()
        assert rows == [(1, 7), (3, None)]
        assert connection.scalar(select(func.count()).select_from(appbuzz_runs)) == 3
        latest = connection.execute(select(app_mentions_latest)).mappings().all()
    assert [(r["id"], r["snapshot_date"]) for r in latest] == [(4, date(2026, 11, 2))]
    # the files' contract: the original system's six columns first (named in tests/trends)
    assert tuple(latest[0])[:6] == OUTPUT_COLUMNS[:6]


def test_failed_load_leaves_the_previous_snapshot(engine: Engine) -> None:
    broken = run_record("r2", date(2026, 11, 1))
    bad_row = {**mention(9, 2, broken), "track_name": None}  # NOT NULL: fails mid-load
    with pytest.raises(IntegrityError):
        replace_snapshot(engine, broken, [mention(1, 1, broken), bad_row])
    with engine.connect() as connection:
        assert connection.execute(
            select(app_mentions.c.app_id, app_mentions.c.run_id).order_by(app_mentions.c.app_id)
        ).all() == [
            (1, "r1"),
            (2, "r1"),
        ]
        assert connection.scalars(select(appbuzz_runs.c.run_id)).all() == ["r1"]
