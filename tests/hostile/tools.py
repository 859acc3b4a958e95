"""Tools for the hostile tests: what a run leaves behind (every file's bytes, every table row),
PostgreSQL sessions that hold locks or end other sessions, and the apps a run will count. The CLI
runner and the rest are the suite's toolkit (tests/support/)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, select, text

from sinks.tables import app_mentions, appbuzz_runs
from tests.support.catalogues import variant_without
from tests.support.cli import Cli, Job


def files_state(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: equal before and after means nothing was touched."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


# where `run_id` stands in a row of `table_state(...)['app_mentions']`
RUN_ID = list(app_mentions.c.keys()).index("run_id")


def table_state(url: str) -> dict[str, list[tuple]]:
    """Every row of appbuzz's tables, in a stable order (an empty database has no tables)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(app_mentions.name):
                return {}
            return {
                "app_mentions": [
                    tuple(r)
                    for r in connection.execute(
                        select(app_mentions).order_by(
                            app_mentions.c.snapshot_date,
                            app_mentions.c.selection,
                            app_mentions.c.rank,
                        )
                    )
                ],
                "appbuzz_runs": [
                    tuple(r)
                    for r in connection.execute(
                        select(appbuzz_runs).order_by(appbuzz_runs.c.started_at)
                    )
                ],
            }
    finally:
        engine.dispose()


def backends_waiting(session: Connection, lock_type: str) -> list[int]:
    """Pids of other sessions on this database waiting for a lock of `lock_type`."""
    return list(
        session.scalars(
            text(
                "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE NOT l.granted AND l.locktype = :type "
                "AND a.datname = current_database() AND l.pid <> pg_backend_pid() "
                "ORDER BY l.pid"
            ),
            {"type": lock_type},
        )
    )


def has_written(session: Connection, pid: int, table: str) -> bool:
    """Whether backend `pid`'s open transaction has changed rows of `table` (holds its write lock)."""
    return bool(
        session.scalar(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE l.pid = :pid AND c.relname = :table AND l.mode = 'RowExclusiveLock' "
                "AND l.granted"
            ),
            {"pid": pid, "table": table},
        )
    )


def ranked_apps(catalogue: Path, top_n: int, genres: tuple[str, ...] = ("Book", "Music")):
    """The apps a run will count, with the query it will send for each: computed with appbuzz's
    own reader and transforms, so a test can tell the fake X API which app to trouble."""
    from sources.catalogue import CatalogueFile
    from tests.validation_oracle import valid
    from transforms.queries import with_mention_queries
    from transforms.ranking import rank_top_apps
    from transforms.screening import plan_validation

    opened = CatalogueFile.open(catalogue)
    plan = plan_validation(opened.scan())
    (top,) = opened.collect(rank_top_apps(valid(plan), genres, top_n))
    return with_mention_queries(top)


def run_job(folder: Path, csv: Path, database: str, snapshot: str) -> Job:
    """`appbuzz run` on `csv` into `database`, files into `folder`/out, for one snapshot date."""
    return Job(folder, ["run", "--csv", str(csv), "--database-url", database, "--out", "out",
                        "--snapshot-date", snapshot])  # fmt: skip


@dataclass(frozen=True)
class BlockedLoad:
    """A run whose load waits on a lock this test holds, and what the night held before it."""

    run: subprocess.Popen[str]
    blocker: Connection  # holds LOCK TABLE appbuzz_runs; roll it back to let the run go on
    tables: dict[str, list[tuple]]
    files: dict[str, bytes]


@contextmanager
def load_blocked_by_a_lock(
    cli: Cli, url: str, catalogue: Path, folder: Path, snapshot: str, without: int
) -> Iterator[BlockedLoad]:
    """Seed the night from `catalogue` without app `without` (another top 10), then start a run
    of the whole catalogue on the same night while a session of this test holds an exclusive lock
    on `appbuzz_runs`: the run's load blocks inside its transaction (old rows out, new rows in)."""
    seeded = cli.run(run_job(folder, variant_without(catalogue, folder, without), url, snapshot))
    assert seeded.returncode == 0, seeded.stderr
    tables, files = table_state(url), files_state(folder / "out")
    holder = create_engine(url)
    try:
        with holder.connect() as blocker:
            blocker.execute(text("LOCK TABLE appbuzz_runs IN ACCESS EXCLUSIVE MODE"))
            run = cli.start(run_job(folder, catalogue, url, snapshot))
            yield BlockedLoad(run, blocker, tables, files)
    finally:
        holder.dispose()
