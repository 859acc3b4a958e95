"""Shared fixtures: the real catalogue, real databases, a real Prefect server, the CLI.

PostgreSQL is the local server (APPBUZZ_TEST_POSTGRES_URL, default the CI machine's
`postgresql+psycopg://postgres@127.0.0.1:5432/test`); each test gets a database of its own. When
the server is away the PostgreSQL tests skip on a laptop and fail in CI (CI=true).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from bench.services import PrefectServer
from bench.services import prefect_server as start_prefect_server

ROOT = Path(__file__).resolve().parent.parent
REAL_CSV = ROOT.parent / "shared" / "data" / "AppleStore.csv"
POSTGRES_URL = os.environ.get(
    "APPBUZZ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def real_csv() -> Path:
    if not REAL_CSV.exists():
        if IN_CI:
            pytest.fail(f"{REAL_CSV} is missing: CI must have ../shared/data/AppleStore.csv")
        pytest.skip(f"{REAL_CSV} not present")
    return REAL_CSV


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the local PostgreSQL server, once checked."""
    engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"appbuzz_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'appbuzz.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both backends: the same test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """Prefect's own test harness: flows called in this process run against a temporary DB."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A real `prefect server start` on a loopback port with its own PREFECT_HOME.

    CLI subprocesses pointed at it skip starting a temporary server each, which keeps the suite
    fast; the server and everything it started are stopped at the end of the session.
    """
    with start_prefect_server() as server:
        yield server


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(prefect_server: PrefectServer, tmp_path: Path):
    """Run `appbuzz ...` as a subprocess in `tmp_path`, talking to the session's Prefect server."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> CliResult:
        full_env = {
            **{
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("APPBUZZ_", "X_", "TWITTER_"))
            },
            **prefect_server.env(),
            **(env or {}),
        }
        done = subprocess.run(
            [sys.executable, "-m", "flows.cli", *args],
            cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def fake_x_api():
    """A loopback fake of the X API (tests/fake_x_api.py) on a random port, for one test."""
    from tests.fake_x_api import serve

    yield from serve()
