"""A run killed with SIGKILL mid-way leaves the previous snapshot and files intact.

The run is caught in the worst place: inside the load's transaction, after it deleted the old
rows and inserted the new ones, before commit (a lock this test holds on `appbuzz_runs` keeps
it there). Then the whole process group gets SIGKILL: no handler, no cleanup code runs.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, create_engine, text

from tests.hostile.tools import (
    Cli,
    Job,
    backends_waiting,
    files_state,
    has_written,
    kill_group,
    table_state,
    wait_for,
)

SNAPSHOT = "2026-11-04"


def run_job(folder: Path, csv: Path, database: str) -> Job:
    return Job(folder, ["run", "--csv", str(csv), "--database-url", database, "--out", "out",
                        "--snapshot-date", SNAPSHOT])  # fmt: skip


def other_sessions(session: Connection) -> int:
    return session.scalar(
        text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    )


def test_sigkill_inside_the_load_keeps_the_previous_snapshot_and_the_next_run_completes(
    cli: Cli, postgres_url: str, pg_session: Connection, real_csv: Path, tmp_path: Path
) -> None:
    lines = real_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    previous = tmp_path / "previous.csv"
    previous.write_text("".join(line for line in lines if '"Spotify Music"' not in line))
    seeded = cli.run(run_job(tmp_path, previous, postgres_url))
    assert seeded.returncode == 0, seeded.stderr
    before_tables, before_files = table_state(postgres_url), files_state(tmp_path / "out")

    holder = create_engine(postgres_url)
    with holder.connect() as blocker:
        blocker.execute(text("LOCK TABLE appbuzz_runs IN ACCESS EXCLUSIVE MODE"))
        run = cli.start(run_job(tmp_path, real_csv, postgres_url))
        try:
            (pid,) = wait_for(lambda: backends_waiting(pg_session, "relation"), timeout=120,
                              what="the load to block inside its transaction")  # fmt: skip
            assert has_written(pg_session, pid, "app_mentions")  # old rows out, new rows in
        finally:
            kill_group(run)  # SIGKILL to the CLI and everything it started
        assert run.returncode == -9
        blocker.rollback()  # the orphaned backend goes on, finds its client gone, rolls back
    holder.dispose()
    wait_for(lambda: other_sessions(pg_session) == 0, timeout=60,
             what="the killed run's session to end")  # fmt: skip

    assert table_state(postgres_url) == before_tables
    assert files_state(tmp_path / "out") == before_files  # no half file, no stray temp file

    rerun = cli.run(run_job(tmp_path, real_csv, postgres_url))
    assert rerun.returncode == 0, rerun.stderr
    after = table_state(postgres_url)
    assert len(after["app_mentions"]) == 10 and len(after["appbuzz_runs"]) == 2
    assert after["app_mentions"][1][4] == "Spotify Music"  # the new file's answer, complete
    assert files_state(tmp_path / "out") != before_files
