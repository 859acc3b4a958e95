"""Fixtures for the API: two real pipeline snapshots per backend, and real servers over them.

The pipeline runs (`appbuzz run`, twice) and the server (`appbuzz serve`) are subprocesses, as a
person starts them; they are session-scoped so every API test shares one setup per backend.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import uvicorn

from api.server import listen, prepare
from sinks.files import write_sample
from sources.catalogue import SAMPLE_CATALOGUE
from tests.support.cli import Cli, Job
from tests.support.postgres import scratch_database
from tests.support.serve import serving, wait_healthy

EARLIER, LATEST = "2026-11-01", "2026-11-02"


def appbuzz(cli: Cli, cwd: Path, *args: str) -> None:
    """`appbuzz ...` as a subprocess that must succeed."""
    done = cli.run(Job(cwd, args))
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """An empty database on each backend, shared by the API tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'appbuzz.db'}"
        return
    with scratch_database(request.getfixturevalue("postgres_server"), prefix="appbuzz_api") as url:
        yield url


@dataclass(frozen=True)
class Snapshots:
    """Two nights loaded by the real pipeline, with the files each night wrote."""

    database_url: str
    out: dict[str, Path]  # snapshot date -> the folder holding that night's apps.csv/apps.json
    climber: int  # the app ranked 10th on the first night and 1st on the second
    earlier: str = EARLIER
    latest: str = LATEST

    def file_rows(self, night: str) -> list[dict]:
        """The rows of that night's apps.json file, as the pipeline wrote them."""
        return json.loads((self.out[night] / "apps.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def snapshots(backend_url: str, cli: Cli, tmp_path_factory) -> Snapshots:
    """The shipped sample on EARLIER; on LATEST the same catalogue where the 10th app climbs."""
    work = tmp_path_factory.mktemp("pipeline")
    appbuzz(cli, work, "run", "--database-url", backend_url, "--out", EARLIER,
            "--snapshot-date", EARLIER)  # fmt: skip
    first = pl.read_json(work / EARLIER / "apps.json")
    climber = first.filter(pl.col("rank") == 10)["id"].item()
    catalogue = pl.read_csv(SAMPLE_CATALOGUE)
    top = catalogue["rating_count_tot"].max()
    write_sample(
        work / "next.csv",
        catalogue.with_columns(
            rating_count_tot=pl.when(pl.col("id") == climber)
            .then(top + 1)
            .otherwise(pl.col("rating_count_tot"))
        ),
    )
    appbuzz(cli, work, "run", "--csv", "next.csv", "--database-url", backend_url,
            "--out", LATEST, "--snapshot-date", LATEST)  # fmt: skip
    return Snapshots(backend_url, {d: work / d for d in (EARLIER, LATEST)}, climber)


@pytest.fixture(scope="session")
def served(snapshots: Snapshots, tmp_path_factory) -> Iterator[str]:
    """`appbuzz serve` on a free loopback port over the two snapshots; yields its base URL."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(snapshots.database_url, log) as server:
        yield server.base_url


@contextmanager
def serve_in_thread(database_url: str) -> Iterator[str]:
    """The same app and socket `appbuzz serve` uses, in a thread: cheap for one-off databases."""
    sock = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(prepare(database_url), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        wait_healthy(base_url, thread.is_alive)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def serve_thread():
    """`serve_thread(url)`: a context manager serving `url` in this process; yields its base URL."""
    return serve_in_thread
