"""Runs at the same time: two of one snapshot on PostgreSQL end with one complete snapshot, and
first runs on a new database create its tables once.

Real processes. To make them overlap for certain (not by luck of timing), the test holds the
snapshot's advisory lock while both start, waits until both are queued on it, then lets go: the
lock in `replace_snapshot` must then hand the snapshot to one writer after the other.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from sinks.database import DatabaseUnavailable, check_database, make_engine, snapshot_lock_key
from tests.hostile.tools import RUN_ID, backends_waiting, table_state
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for
from tests.support.processes import stop_group

SNAPSHOT = "2026-11-03"
SELECTION = "Book+Music/top10"


def test_two_runs_of_one_snapshot_end_with_exactly_one_complete_snapshot(
    cli: Cli, postgres_url: str, pg_session: Connection, catalogue_csv: Path, tmp_path: Path
) -> None:
    key = snapshot_lock_key(date.fromisoformat(SNAPSHOT), SELECTION)
    lock = text("SELECT pg_advisory_lock(hashtextextended(:key, 0))")
    unlock = text("SELECT pg_advisory_unlock(hashtextextended(:key, 0))")
    args = ["run", "--csv", str(catalogue_csv), "--database-url", postgres_url,
            "--out", str(tmp_path / "out"), "--snapshot-date", SNAPSHOT]  # fmt: skip
    pg_session.execute(lock, {"key": key})
    runs = [cli.start(Job(tmp_path / name, args)) for name in ("first", "second")]
    try:
        wait_for(lambda: len(backends_waiting(pg_session, "advisory")) == 2, timeout=120,
                 what="both runs to queue on the snapshot's lock")  # fmt: skip
        assert table_state(postgres_url)["app_mentions"] == []  # both are mid-load, neither in
        assert pg_session.scalar(unlock, {"key": key})
        outputs = [run.communicate(timeout=120) for run in runs]
    finally:
        for run in runs:
            stop_group(run, grace=0)
    for run, (_, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stderr  # the loser waited its turn, then replaced
        assert "| ERROR" not in stderr  # no failed attempt, no retry: it simply waited
    tables = table_state(postgres_url)
    rows, records = tables["app_mentions"], tables["appbuzz_runs"]
    assert len(records) == 2 and {r[6] for r in records} == {"completed"}
    assert len(rows) == 10 and len({r[2] for r in rows}) == 10  # one snapshot, no duplicates
    assert [r[3] for r in rows] == list(range(1, 11))
    winner = {r[RUN_ID] for r in rows}
    assert len(winner) == 1 and winner <= {r[0] for r in records}  # one run's rows, unmixed
    files = json.loads((tmp_path / "out" / "apps.json").read_text(encoding="utf-8"))
    assert [f["id"] for f in files] == [r[2] for r in rows]


def first_runs_at_once(url: str, runs: int = 6) -> list[str]:
    """`runs` runs checking a new database at the same moment; what each failure said."""
    start = threading.Barrier(runs)
    failures: list[str] = []

    def first_run() -> None:
        engine = make_engine(url)
        try:
            start.wait(timeout=30)
            check_database(engine)
        except DatabaseUnavailable as error:
            failures.append(str(error))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=first_run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    engine = make_engine(url)
    with engine.connect() as connection:
        assert {"app_mentions", "appbuzz_runs"} <= set(inspect(connection).get_table_names())
        assert "app_mentions_latest" in inspect(connection).get_view_names()
    engine.dispose()
    return failures


def test_runs_started_together_on_a_new_postgresql_database_create_its_tables_once(
    postgres_url: str,
) -> None:
    """Every run checks the database and creates missing tables first; six at once on an empty
    database (the first night, or two schedules firing together) must all succeed."""
    assert first_runs_at_once(postgres_url) == []


def test_runs_started_together_on_a_new_sqlite_file_create_its_tables_once(tmp_path: Path) -> None:
    """The same on SQLite, where a new file also has its journal mode switched to WAL (which
    SQLite does not wait for): several new files, the race is short."""
    for attempt in range(30):
        assert first_runs_at_once(f"sqlite:///{tmp_path / f'new-{attempt}.db'}") == []
