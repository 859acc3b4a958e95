"""What the benchmark starts and cleans up: a Prefect server and scratch PostgreSQL databases.

Both bind 127.0.0.1 only and are gone when the benchmark ends, even when it fails.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

POSTGRES_URL = os.environ.get(
    "APPBUZZ_BENCH_POSTGRES_URL",
    os.environ.get(
        "APPBUZZ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
)

QUIET_PREFECT = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    # a loaded two-core machine can take longer than the default 20 s to start a server
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def free_port() -> int:
    """A loopback TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path

    def env(self) -> dict[str, str]:
        """What a client process needs to use this server instead of starting its own."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home)}


@contextmanager
def prefect_server(ui: bool = False, **settings: str) -> Iterator[PrefectServer]:
    """A `prefect server start` on a free loopback port with a PREFECT_HOME of its own (the
    benchmarks' and the test suite's); stopped, and its home removed, on exit. `ui` serves the
    UI too (its links point at this port); `settings` are more server settings."""
    home = Path(tempfile.mkdtemp(prefix="appbuzz-bench-prefect-"))
    port = free_port()
    env = {**os.environ, **QUIET_PREFECT, "PREFECT_HOME": str(home), "PREFECT_API_URL": ""}
    if ui:
        ui_url = f"http://127.0.0.1:{port}"
        env |= {
            "PREFECT_UI_ENABLED": "true",
            "PREFECT_UI_URL": ui_url,
            "PREFECT_UI_API_URL": f"{ui_url}/api",
        }
    env |= settings
    log = (home / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
         "--port", str(port), *([] if ui else ["--no-ui"])],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                tail = (home / "server.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"prefect server did not start:\n{tail}")
            time.sleep(0.5)
        yield PrefectServer(api_url=api_url, home=home)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class ScratchDatabases:
    """Creates PostgreSQL databases named `prefix`_*, and drops every one it made (the
    benchmarks' and, through tests/support/postgres.py, the test suite's)."""

    admin_url: str
    created: list[str] = field(default_factory=list)
    prefix: str = "appbuzz_bench"

    def create(self) -> str:
        name = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.created.remove(name)

    def _admin(self, statement: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


def _reachable(url: str) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextmanager
def scratch_databases() -> Iterator[ScratchDatabases | None]:
    """Scratch databases on the local PostgreSQL, or None when it cannot be reached."""
    if not _reachable(POSTGRES_URL):
        yield None
        return
    databases = ScratchDatabases(POSTGRES_URL)
    try:
        yield databases
    finally:
        databases.drop_all()


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL as psql takes it (no `+driver`)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
