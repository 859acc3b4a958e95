"""Tools for the hostile tests: CLI processes (many at once, or one to kill), what a run leaves
behind (every file's bytes, every table row), and PostgreSQL sessions that hold locks or end
other sessions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, create_engine, inspect, select, text

from sinks.tables import app_mentions, appbuzz_runs

# Enough for a nightly run on a shared 2-core machine; a hung run fails the test, never the suite.
CLI_TIMEOUT = 180


@dataclass(frozen=True)
class Job:
    """One `appbuzz` invocation: where it runs, its arguments, extra environment."""

    cwd: Path
    args: Sequence[str]
    env: dict[str, str] | None = None


class Cli:
    """`python -m flows.cli` as a subprocess against the session's Prefect server, as `run_cli`
    does, plus what these tests need: many runs at once, and a run to kill mid-way."""

    def __init__(self, prefect_env: dict[str, str]) -> None:
        self._prefect_env = prefect_env

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("APPBUZZ_", "X_", "TWITTER_"))
        }
        return {**inherited, **self._prefect_env, **(extra or {})}

    def start(self, job: Job) -> subprocess.Popen[str]:
        """Start a run in its own process group, so a kill reaches everything it started."""
        job.cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [sys.executable, "-m", "flows.cli", *job.args],
            cwd=job.cwd, env=self.env(job.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, start_new_session=True,
        )  # fmt: skip

    def run(self, job: Job) -> subprocess.CompletedProcess[str]:
        process = self.start(job)
        try:
            stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
        finally:
            kill_group(process)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def run_many(
        self, jobs: Sequence[Job], workers: int = 3
    ) -> list[subprocess.CompletedProcess[str]]:
        """Independent runs side by side (each its own folder and database): the machine has
        two cores and a run spends much of its time starting up and talking to Prefect."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.run, jobs))


def kill_group(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """Kill a process group this test started (never anything else), and reap it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    process.wait(timeout=30)


def files_state(root: Path) -> dict[str, bytes]:
    """Every file under `root` with its bytes: equal before and after means nothing was touched."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


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
    from sources.catalogue import collect_catalogue, open_catalogue, scan_catalogue
    from tests.validation_oracle import valid
    from transforms.queries import with_mention_queries
    from transforms.ranking import rank_top_apps
    from transforms.screening import plan_validation

    opened = open_catalogue(catalogue)
    plan = plan_validation(scan_catalogue(opened))
    (top,) = collect_catalogue(opened, rank_top_apps(valid(plan), genres, top_n))
    return with_mention_queries(top)


def run_job(folder: Path, csv: Path, database: str, snapshot: str) -> Job:
    """`appbuzz run` on `csv` into `database`, files into `folder`/out, for one snapshot date."""
    return Job(folder, ["run", "--csv", str(csv), "--database-url", database, "--out", "out",
                        "--snapshot-date", snapshot])  # fmt: skip


def variant_without(real_csv: Path, folder: Path, name: str) -> Path:
    """The real catalogue without one app: another version of the file, another top 10."""
    lines = real_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    path = folder / "previous.csv"
    path.write_text("".join(line for line in lines if f'"{name}"' not in line), encoding="utf-8")
    return path
