"""Snapshot loads on SQLite and PostgreSQL: replace, never duplicate, all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from sinks.database import Database
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


def mention(app_id: int, rank: int, n: int | None = 5) -> dict:
    """One app of a night as the load takes it (`id` and the app's and mention columns)."""
    return {
        "id": app_id,
        "rank": rank,
        "track_name": f"App {app_id} – ünïcode",
        "prime_genre": "Music",
        "size_bytes": 10,
        "price": 0.99,
        "rating_count_tot": 100 - rank,
        "n_citacoes": n,
        "mention_status": "ok" if n is not None else "skipped",
        "x_requests": 1,
    }


def replace_snapshot(database: Database, run: RunRecord, apps: list[dict]) -> None:
    with database.night(run.snapshot_date, run.selection) as night:
        night.replace_snapshot(run, pl.DataFrame(apps))


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """The tables, and run r1's snapshot of 2026-11-01 (apps 1 and 2) loaded."""
    with Database.open(database_url) as database:
        database.check()
        replace_snapshot(
            database, run_record("r1", date(2026, 11, 1)), [mention(1, 1), mention(2, 2)]
        )
        yield database


@pytest.fixture
def engine(database: Database) -> Engine:
    return database.engine


def test_rerun_replaces_the_snapshot_and_view_shows_newest(
    database: Database, engine: Engine
) -> None:
    again = run_record("r2", date(2026, 11, 1))
    replace_snapshot(database, again, [mention(1, 1, 7), mention(3, 2, None)])
    later = run_record("r3", date(2026, 11, 2))
    replace_snapshot(database, later, [mention(4, 1)])
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


def test_failed_load_leaves_the_previous_snapshot(database: Database, engine: Engine) -> None:
    broken = run_record("r2", date(2026, 11, 1))
    bad_row = {**mention(9, 2), "track_name": None}  # NOT NULL: fails mid-load
    with pytest.raises(IntegrityError):
        replace_snapshot(database, broken, [mention(1, 1), bad_row])
    with engine.connect() as connection:
        assert connection.execute(
            select(app_mentions.c.app_id, app_mentions.c.run_id).order_by(app_mentions.c.app_id)
        ).all() == [
            (1, "r1"),
            (2, "r1"),
        ]
        assert connection.scalars(select(appbuzz_runs.c.run_id)).all() == ["r1"]
