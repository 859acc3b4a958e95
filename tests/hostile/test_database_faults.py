"""The database misbehaves: unreachable, misconfigured, or the connection dropped mid-load.

Real PostgreSQL connections throughout. A database that cannot be used stops the run before the
flow starts (no X API call, nothing written), in seconds, with one line that never shows the
password; a load whose connection is cut leaves the previous snapshot exactly as it was, and the
next run completes it.
"""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, make_url, text

from bench.services import free_port
from flows.faults import DATABASE_RETRY_DELAYS
from tests.hostile.tools import (
    RUN_ID,
    backends_waiting,
    files_state,
    has_written,
    load_blocked_by_a_lock,
    run_job,
    table_state,
)
from tests.support.catalogues import top_apps
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for

SNAPSHOT = "2026-11-02"
CANARY = f"canary-pw-{uuid.uuid4().hex}"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word: a hung or firewalled server."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def unusable_urls(
    postgres_url: str, silent_port: int, blocked_folder: Path
) -> dict[str, tuple[str, int, str]]:
    """name -> (URL with the canary password, exit status, what the message must say)."""
    server = make_url(postgres_url)
    on_server = server.set(password=CANARY)
    render = lambda url: url.render_as_string(hide_password=False)  # noqa: E731
    return {
        "closed_port": (
            render(on_server.set(port=free_port())), 1, "Connection refused"
        ),
        "silent_server": (
            render(on_server.set(port=silent_port)), 1, "timeout expired"
        ),
        "no_such_database": (
            render(on_server.set(database=f"appbuzz_missing_{uuid.uuid4().hex[:8]}")), 1,
            "does not exist",
        ),
        "no_such_role": (
            render(on_server.set(username="appbuzz_nobody")), 1,
            'role "appbuzz_nobody" does not exist',
        ),
        "password_in_query_string": (
            render(server.update_query_dict({"password": CANARY}).set(port=free_port())), 1,
            "password=***",
        ),
        "ssl_required_but_not_offered": (
            render(on_server.update_query_dict({"sslmode": "require"})), 1, "SSL",
        ),
        "async_driver_of_prefects_own_url": (
            render(on_server.set(drivername="postgresql+asyncpg")), 2, "not available",
        ),
        "driver_not_installed": (
            render(on_server.set(drivername="postgresql+pg8000")), 2, "not available",
        ),
        "port_not_a_number": (
            f"postgresql+psycopg://postgres:{CANARY}@127.0.0.1:port/db", 2,
            "not a SQLAlchemy URL",
        ),
        "not_a_url": (f"postgres:{CANARY}", 2, "not a SQLAlchemy URL"),
        "sqlite_folder_under_a_file": (
            f"sqlite:///{blocked_folder}/appbuzz.db", 1, "cannot create the folder",
        ),
    }  # fmt: skip


def test_unusable_database_stops_the_run_before_it_starts(
    cli: Cli, postgres_url: str, silent_server: int, catalogue_csv: Path, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder\n")
    cases = unusable_urls(postgres_url, silent_server, tmp_path / "a-file" / "data")
    jobs = [
        Job(
            tmp_path / name,
            ["run", "--csv", str(catalogue_csv), "--database-url", url, "--out", "out"],
        )
        for name, (url, _, _) in cases.items()
    ]
    results = dict(zip(cases, cli.run_many(jobs, workers=4), strict=True))
    for name, (_, status, needle) in cases.items():
        done = results[name]
        assert done.returncode == status, (name, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("appbuzz: "), name
        assert needle in done.stderr, (name, done.stderr)
        assert CANARY not in done.stdout + done.stderr, name
        assert "Traceback" not in done.stderr, name
        assert done.stdout == "" and not (tmp_path / name / "out").exists(), name
        if status == 1 and "postgresql" in done.stderr:  # named, with the password hidden
            assert "***" in done.stderr, name
    assert table_state(postgres_url) == {}  # and the real database was never touched


def test_connection_dropped_mid_load_rolls_back_and_the_rerun_completes(
    cli: Cli, postgres_url: str, pg_session: Connection, catalogue_csv: Path, tmp_path: Path
) -> None:
    """The load is held inside its transaction (its old rows deleted, new rows inserted, not yet
    committed) by a lock this test holds on `appbuzz_runs`; then its backend is terminated, on
    every attempt Prefect makes. The run fails; the previous snapshot and files are as they were."""
    top_id = top_apps(catalogue_csv)["id"][0]
    with load_blocked_by_a_lock(
        cli, postgres_url, catalogue_csv, tmp_path, SNAPSHOT, without=top_id
    ) as blocked:
        run, before_tables, before_files = blocked.run, blocked.tables, blocked.files
        ended: set[int] = set()
        while run.poll() is None:  # each attempt: wait until it blocks mid-transaction, end it
            waiting = [pid for pid in backends_waiting(pg_session, "relation") if pid not in ended]
            for pid in waiting:
                assert has_written(pg_session, pid, "app_mentions")  # old rows out, new rows in
                uncommitted = pg_session.scalar(
                    text("SELECT count(*) FROM app_mentions WHERE run_id <> :seed"),
                    {"seed": before_tables["appbuzz_runs"][0][0]},
                )
                assert uncommitted == 0  # what the open transaction wrote is invisible
                assert pg_session.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                ended.add(pid)
            wait_for(
                lambda: (
                    run.poll() is not None or set(backends_waiting(pg_session, "relation")) - ended
                ),
                timeout=60,
                what="the next load attempt or the end of the run",
            )
        _, stderr = run.communicate()
        blocked.blocker.rollback()

    assert len(ended) == 1 + len(DATABASE_RETRY_DELAYS)  # the first attempt and each retry
    assert run.returncode == 1
    last = stderr.strip().splitlines()[-1]  # above it, Prefect's log of the failed task
    assert last.startswith("appbuzz: database postgresql+psycopg://")  # the typed error's line
    assert "Traceback" not in stderr  # the failed attempts are logged one line each
    assert "was rolled back: terminating connection due to administrator command" in last
    assert table_state(postgres_url) == before_tables  # previous snapshot, byte for byte
    assert files_state(tmp_path / "out") == before_files

    rerun = cli.run(run_job(tmp_path, catalogue_csv, postgres_url, SNAPSHOT))
    assert rerun.returncode == 0, rerun.stderr
    after = table_state(postgres_url)
    assert len(after["appbuzz_runs"]) == 2
    new_run = after["appbuzz_runs"][-1][0]
    assert after["app_mentions"][0][2] == top_id  # the top app is back on top
    assert len(after["app_mentions"]) == 10 and {r[RUN_ID] for r in after["app_mentions"]} == {
        new_run
    }
