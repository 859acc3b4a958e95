"""`appbuzz serve` for the tests: a subprocess on a free loopback port, as a person starts it, and
waiting until a server answers `/healthz` (a server that dies first fails the test at once); and
one whose database goes away once it is up."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.services import free_port
from sinks.database import check_database, make_engine
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for
from tests.support.postgres import refusing, scratch_database
from tests.support.processes import stop_group


def wait_healthy(base_url: str, alive: Callable[[], bool], timeout: float = 60) -> None:
    """Wait until `base_url/healthz` answers 200; fail as soon as `alive()` says it is gone."""

    def healthy() -> bool:
        assert alive(), f"the server at {base_url} stopped before it answered"
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(healthy, timeout=timeout, what=f"{base_url} to be healthy")


@dataclass(frozen=True)
class Served:
    base_url: str
    process: subprocess.Popen[str]


@contextmanager
def serving(database_url: str, log: Path, *args: str) -> Iterator[Served]:
    """`appbuzz serve --database-url URL ARGS...` on a free port, both streams to `log`; stopped
    with its process group (its workers too) on exit."""
    base_url = f"http://127.0.0.1:{(port := free_port())}"
    job = Job(log.parent, ["serve", "--port", str(port), "--database-url", database_url, *args])
    with log.open("w") as sink:
        process = Cli().start(job, sink)
    try:
        wait_healthy(base_url, lambda: process.poll() is None)
        yield Served(base_url, process)
    finally:
        stop_group(process)


@contextmanager
def serving_away(postgres_server: str, log: Path) -> Iterator[Served]:
    """`appbuzz serve` started over a fresh PostgreSQL database (the pipeline's tables, empty)
    that then refuses every connection: yielded once the server says so on `/healthz` (503)."""
    with scratch_database(postgres_server, prefix="appbuzz_away") as url:
        engine = make_engine(url)
        check_database(engine)  # what the pipeline creates first
        engine.dispose()
        with serving(url, log) as server, refusing(postgres_server, url):
            wait_for(
                lambda: httpx.get(f"{server.base_url}/healthz", timeout=5).status_code == 503,
                what="the server to find its database away",
            )
            yield server
