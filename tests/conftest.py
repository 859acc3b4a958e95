"""Shared fixtures, each built from the toolkit in tests/support/: generated catalogues (and the
real one for `real_data` tests), real databases, one real Prefect server, the CLI.

PostgreSQL is the local server (tests/support/postgres.py); each test gets a database of its own.
When the server is away the PostgreSQL tests skip on a laptop and fail in CI (CI=true).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess
from typing import TYPE_CHECKING

import pytest

from tests.support.catalogues import REAL_CSV, write_catalogue
from tests.support.cli import CLI_TIMEOUT, Cli, Job
from tests.support.environment import is_setting
from tests.support.postgres import POSTGRES_URL, checked_server, scratch_database
from tests.support.prefect import PrefectServer
from tests.support.prefect import prefect_server as start_prefect_server
from tests.support.requirements import missing

if TYPE_CHECKING:
    from tests.fake_x_api import FakeXApi


@pytest.fixture(scope="session")
def catalogue_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated catalogue as large as the real file (tests/support/catalogues.py)."""
    return write_catalogue(tmp_path_factory.mktemp("catalogue") / "catalogue.csv")


@pytest.fixture
def real_csv(request: pytest.FixtureRequest) -> Path:
    """The real AppleStore.csv, for tests marked `real_data` only (their point is its answers)."""
    if request.node.get_closest_marker("real_data") is None:
        pytest.fail("only tests marked @pytest.mark.real_data read the real catalogue")
    if not REAL_CSV.exists():
        missing(f"{REAL_CSV} is missing (the public Kaggle 'Mobile App Store' AppleStore.csv)")
    return REAL_CSV


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process without appbuzz's, X's and Twitter's settings, for in-process runs."""
    for name in [n for n in os.environ if is_setting(n)]:
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of the local PostgreSQL server, once checked."""
    return checked_server(POSTGRES_URL)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with scratch_database(postgres_server) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'appbuzz.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both backends: the same test runs on SQLite and on the local PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def prefect_harness(prefect_server: PrefectServer) -> Iterator[None]:
    """Flows called in this process run against the session's Prefect server (the one server of
    the session; Prefect's `prefect_test_harness` would start a second)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
        yield
        # send what is queued while the server is still up (as prefect_test_harness does)
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectServer]:
    """A real `prefect server start` on a loopback port with its own PREFECT_HOME.

    CLI subprocesses pointed at it skip starting a temporary server each, which keeps the suite
    fast; the server and everything it started are stopped at the end of the session. Its
    scheduler is off (tests/support/prefect.py says why).
    """
    with start_prefect_server() as server:
        yield server


@pytest.fixture(scope="session")
def cli(prefect_server: PrefectServer) -> Cli:
    """Runs `appbuzz` as subprocesses against the session's Prefect server."""
    return Cli(prefect_server.env())


@pytest.fixture
def run_cli(cli: Cli, tmp_path: Path) -> Callable[..., CompletedProcess[str]]:
    """`run_cli(*args)`: `appbuzz ...` in `tmp_path`, talking to the session's Prefect server."""

    def run(
        *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT
    ) -> CompletedProcess[str]:
        return cli.run(Job(tmp_path, args, env), timeout=timeout)

    return run


@pytest.fixture
def fake_x_api():
    """A loopback fake of the X API (tests/fake_x_api.py) on a random port, for one test."""
    from tests.fake_x_api import serve

    yield from serve()


@pytest.fixture
def cli_x_env(fake_x_api: FakeXApi, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """`cli_x_env(token=None, **extra)`: the environment of an `appbuzz` subprocess pointed at
    the fake (with the fake's own token unless told), task results kept in `tmp_path`."""

    def env(token: str | None = None, **extra: str) -> dict[str, str]:
        return {
            "X_BEARER_TOKEN": fake_x_api.token if token is None else token,
            "X_API_BASE_URL": fake_x_api.base_url,
            "PREFECT_LOCAL_STORAGE_PATH": str(tmp_path / "results"),
            "APPBUZZ_X_RETRY_BASE_SECONDS": "0.02",
            "APPBUZZ_X_RATE_LIMIT_MARGIN_SECONDS": "0.05",
            **extra,
        }

    return env
