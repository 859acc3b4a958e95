"""Production-path fixtures: a clone deployed to the session's Prefect server, workers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy.production import (
    CREATE_POOL,
    DEPLOY,
    Deployed,
    Shell,
    clone_repo,
    production_env,
    workers,
)
from tests.support.prefect import PrefectApi


@pytest.fixture(scope="session")
def deployed(prefect_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The README's steps 2-3 (pool, deploy) from a clone whose path has a space in it."""
    clone = clone_repo(tmp_path_factory.mktemp("elsewhere") / "appbuzz clone")
    shell = Shell(clone, production_env(prefect_server.env()))
    shell.run(CREATE_POOL).ok()
    shell.run(DEPLOY, timeout=180).ok()
    try:
        yield Deployed(clone, shell, PrefectApi(prefect_server.api_url))
    finally:
        shell.stop_all()


@pytest.fixture
def worker(deployed: Deployed, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """`worker(**env)`: one more `prefect worker start --pool appbuzz-process` for `deployed`
    (a module may deploy to a server of its own), as many as asked; all stopped after, with
    their flow runs."""
    with workers(deployed.shell.env, tmp_path) as start:
        yield start
