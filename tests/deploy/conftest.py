"""Production-path fixtures: a clone deployed to the session's Prefect server, workers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.production import (
    CREATE_POOL,
    DEPLOY,
    START_WORKER,
    Deployed,
    Shell,
    clone_repo,
    production_env,
)


@pytest.fixture(scope="session")
def deployed(prefect_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The README's steps 2-3 (pool, deploy) from a clone whose path has a space in it."""
    clone = clone_repo(tmp_path_factory.mktemp("elsewhere") / "appbuzz clone")
    shell = Shell(clone, production_env(prefect_server.env()))
    shell.run(CREATE_POOL).ok()
    shell.run(DEPLOY, timeout=180).ok()
    try:
        yield Deployed(clone, shell, prefect_server.api_url)
    finally:
        shell.stop_all()


@pytest.fixture
def worker(deployed: Deployed, tmp_path: Path) -> Iterator:
    """Start `prefect worker start --pool appbuzz-process` with an environment; stopped after."""
    folder = tmp_path / "worker"  # not the clone: the deployment says where the code is
    folder.mkdir()
    # polling every second instead of every 10 keeps the test short; nothing else differs
    shell = Shell(folder, {**deployed.shell.env, "PREFECT_WORKER_QUERY_SECONDS": "1"})

    def start(**env: str) -> subprocess.Popen:
        log = tmp_path / f"worker-{len(shell.started)}.log"
        return shell.with_env(**env).start(START_WORKER, log)

    try:
        yield start
    finally:
        logs = [log for _, log in shell.started]
        shell.stop_all()
        for log in logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
