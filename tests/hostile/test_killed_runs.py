"""A run killed with SIGKILL mid-way leaves the previous snapshot and files intact.

Caught in two places: inside the load's transaction, after it deleted the old rows and inserted
the new ones, before commit (a lock this test holds on `appbuzz_runs` keeps it there); and in
the middle of enrichment, some apps counted, others waiting on the X API. Then the whole process
group gets SIGKILL: no handler, no cleanup code runs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import Connection, text

from sinks.tables import app_mentions
from tests.fake_x_api import FakeXApi
from tests.hostile.tools import (
    backends_waiting,
    files_state,
    has_written,
    load_blocked_by_a_lock,
    ranked_apps,
    run_job,
    table_state,
)
from tests.support.catalogues import top_apps
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for
from tests.support.processes import stop_group

SNAPSHOT = "2026-11-04"
COLUMNS = [c.name for c in app_mentions.columns]


def other_sessions(session: Connection) -> int:
    return session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


def test_sigkill_inside_the_load_keeps_the_previous_snapshot_and_the_next_run_completes(
    cli: Cli, postgres_url: str, pg_session: Connection, catalogue_csv: Path, tmp_path: Path
) -> None:
    second = top_apps(catalogue_csv).row(1, named=True)
    with load_blocked_by_a_lock(
        cli, postgres_url, catalogue_csv, tmp_path, SNAPSHOT, without=second["id"]
    ) as blocked:
        run, before_tables, before_files = blocked.run, blocked.tables, blocked.files
        try:
            (pid,) = wait_for(lambda: backends_waiting(pg_session, "relation"), timeout=120,
                              what="the load to block inside its transaction")  # fmt: skip
            assert has_written(pg_session, pid, "app_mentions")  # old rows out, new rows in
        finally:
            stop_group(run, grace=0)  # SIGKILL to the CLI and everything it started
        assert run.returncode == -9
        blocked.blocker.rollback()  # the orphaned backend goes on, finds its client gone
    wait_for(lambda: other_sessions(pg_session) == 0, timeout=60,
             what="the killed run's session to end")  # fmt: skip

    assert table_state(postgres_url) == before_tables
    assert files_state(tmp_path / "out") == before_files  # no half file, no stray temp file

    rerun = cli.run(run_job(tmp_path, catalogue_csv, postgres_url, SNAPSHOT))
    assert rerun.returncode == 0, rerun.stderr
    after = table_state(postgres_url)
    assert len(after["app_mentions"]) == 10 and len(after["appbuzz_runs"]) == 2
    assert after["app_mentions"][1][4] == second["track_name"]  # the new file's answer, complete
    assert files_state(tmp_path / "out") != before_files


def persisted(results: Path) -> list[Path]:
    """Prefect's persisted task results in `results` that are whole (a JSON record each)."""
    whole = []
    for path in results.glob("*") if results.exists() else []:
        try:
            json.loads(path.read_bytes())
        except ValueError:
            continue
        whole.append(path)
    return whole


def test_sigkill_during_enrichment_keeps_the_previous_snapshot_and_the_rerun_asks_only_the_rest(
    cli: Cli,
    cli_x_env,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    """Six apps are counted (their results persisted by Prefect), four replies hang; SIGKILL.
    Nothing of the run is loaded; the rerun completes and asks X only for the four."""
    # no token: a skipped snapshot
    seeded = cli.run(run_job(tmp_path, catalogue_csv, postgres_url, SNAPSHOT))
    assert seeded.returncode == 0, seeded.stderr
    before_tables, before_files = table_state(postgres_url), files_state(tmp_path / "out")

    queries = ranked_apps(catalogue_csv, 10)["mention_query"].to_list()
    hanging = set(queries[6:])
    for query in hanging:
        fake_x_api.script("slow", seconds=120, query=query)  # longer than the test
    results = tmp_path / "results"  # where cli_x_env keeps the task results
    env = cli_x_env(APPBUZZ_X_TIMEOUT_SECONDS="60")
    run = cli.start(
        Job(tmp_path, run_job(tmp_path, catalogue_csv, postgres_url, SNAPSHOT).args, env)
    )
    try:
        wait_for(lambda: len(persisted(results)) == 6, timeout=120,
                 what="six apps counted and their results persisted")  # fmt: skip
    finally:
        stop_group(run, grace=0)
    assert run.returncode == -9
    assert {r.query for r in fake_x_api.requests if r.status == 200} == set(queries) - hanging
    assert table_state(postgres_url) == before_tables
    assert files_state(tmp_path / "out") == before_files

    rerun_started = time.time()  # the killed run's hanging requests may still end after this
    rerun = cli.run(
        Job(tmp_path, run_job(tmp_path, catalogue_csv, postgres_url, SNAPSHOT).args, env)
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    asked = [r.query for r in fake_x_api.requests if r.started >= rerun_started]
    assert sorted(asked) == sorted(hanging)  # the six already counted came from the cache
    after = table_state(postgres_url)
    rows = after["app_mentions"]
    assert len(rows) == 10 and len(after["appbuzz_runs"]) == 2
    status, count, query = (
        COLUMNS.index(c) for c in ("mention_status", "n_citacoes", "mention_query")
    )
    assert all(r[status] == "ok" and r[count] == fake_x_api.total_for(r[query]) for r in rows)
