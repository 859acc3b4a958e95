"""What the benchmark starts and cleans up: a Prefect server and scratch PostgreSQL databases.

Both bind 127.0.0.1 only and are gone when the benchmark ends, even when it fails.
"""

from __future__ import annotations

import contextlib
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
    # the running process, to kill and start again (a restart test); None for a server of others
    process: ServerProcess | None = field(default=None, compare=False, repr=False)

    def env(self) -> dict[str, str]:
        """What a client process needs to use this server instead of starting its own."""
        return {"PREFECT_API_URL": self.api_url, "PREFECT_HOME": str(self.home)}


@dataclass
class ServerProcess:
    """`prefect server start` on one loopback port with one PREFECT_HOME (its SQLite database
    and, with the filesystem lease storage, its leases): killed and started again on the same
    address and database, as a restarted service is."""

    home: Path
    port: int
    env: dict[str, str]
    ui: bool = False
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def start(self, timeout: float = 180) -> None:
        """Start it and wait until it answers /health."""
        self.starts += 1
        with (self.home / "server.log").open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                 "--port", str(self.port), *([] if self.ui else ["--no-ui"])],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.popen.poll() is not None or time.monotonic() > deadline:
                tail = (self.home / "server.log").read_text(errors="replace")[-4000:]
                raise RuntimeError(f"prefect server did not start:\n{tail}")
            time.sleep(0.5)

    def kill(self) -> None:
        """SIGKILL to the server and everything in its process group: no goodbye."""
        self._signal(signal.SIGKILL, 30)

    def stop(self) -> None:
        self._signal(signal.SIGTERM, 30)

    def _signal(self, sig: int, wait: float) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, sig)
            self.popen.wait(timeout=wait)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def rss_bytes(self) -> int:
        """The resident memory of the server and its children now (0 when it is not running)."""
        if self.popen is None or self.popen.poll() is not None:
            return 0
        return tree_rss_bytes(self.popen.pid)


def tree_rss_bytes(pid: int) -> int:
    """The resident memory of `pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
        todo.extend(children.get(current, []))
    return total


@contextmanager
def prefect_server(ui: bool = False, **settings: str) -> Iterator[PrefectServer]:
    """A `prefect server start` on a free loopback port with a PREFECT_HOME of its own (the
    benchmarks' and the test suite's); stopped, and its home removed, on exit. `ui` serves the
    UI too (its links point at this port); `settings` are more server settings. Its `process`
    can kill it and start it again on the same port and database."""
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
    server = ServerProcess(home, port, env, ui)
    try:
        server.start()
        yield PrefectServer(api_url=server.api_url, home=home, process=server)
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster of our own (initdb in a temporary folder, run as the `postgres`
    user, on a free loopback port): stopped and started again by a restart test, never the
    shared server. `url` is its `postgres` database (trust auth, 127.0.0.1 only)."""

    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*_AS_POSTGRES, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        self._pg_ctl("-o", options, "-l", str(self.folder / "postgres.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop it (`fast`: sessions ended, as a service restart does; `immediate`: a crash)."""
        self._pg_ctl("-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


_AS_POSTGRES = ["runuser", "-u", "postgres", "--"]


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL's binaries (Debian's layout), or None."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@contextmanager
def private_postgres() -> Iterator[PostgresCluster]:
    """A fresh cluster, started; stopped and its folder removed on exit. Needs root (to run
    the server as `postgres`) and an installed PostgreSQL."""
    binaries = postgres_bin()
    if binaries is None or os.geteuid() != 0:
        raise RuntimeError("a private PostgreSQL cluster needs root and /usr/lib/postgresql/*/bin")
    folder = Path(tempfile.mkdtemp(prefix="appbuzz-pg-"))
    shutil.chown(folder, "postgres", "postgres")
    cluster = PostgresCluster(folder, free_port(), binaries)
    try:
        subprocess.run(
            [*_AS_POSTGRES, str(binaries / "initdb"), "-D", str(cluster.data), "-A", "trust",
             "-U", "postgres", "--no-sync"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )  # fmt: skip
        cluster.start()
        yield cluster
    finally:
        if cluster.running():
            with contextlib.suppress(subprocess.SubprocessError):
                cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


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
