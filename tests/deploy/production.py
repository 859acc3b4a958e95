"""The README's production commands and the means to run them as a person would: bash, a
folder, an environment. Every process started here runs in a session of its own and is stopped
with its whole process group (a worker's flow-run subprocesses too), on success, failure or
timeout.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fake_x_api import FakeXApi
from tests.support.environment import clean_env
from tests.support.prefect import PrefectApi
from tests.support.processes import stop_group, stop_tree

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PRODUCTION_HEADING = "## Production: Prefect server, work pool, deployment"
DEPLOYMENT = "app-mentions/nightly"

# The README's production steps, verbatim (tests/deploy/test_deployment.py checks they are there).
CREATE_POOL = "prefect work-pool create appbuzz-process --type process"
DEPLOY = "prefect --no-prompt deploy --all"
INSPECT = "prefect deployment inspect 'app-mentions/nightly'"
START_WORKER = "prefect worker start --pool appbuzz-process"
RUN_NOW = "prefect deployment run 'app-mentions/nightly' --param csv_path=\"$CATALOGUE\" --watch"
RUN_BACKFILL = (
    "prefect deployment run 'app-mentions/nightly' --param csv_path=\"$CATALOGUE\""
    " --param snapshot_date=2026-11-27 --param top_n=3 --watch"
)
RUN_MONTH = "prefect deployment run 'app-backfill/month' --param csv_path=\"$CATALOGUE\" --watch"
CREATE_LIMIT = "prefect gcl create x-api --limit 5"
SETUP = "appbuzz setup"
RETRY = 'prefect flow-run retry "$FLOW_RUN_ID"'
WATCH = 'prefect flow-run watch "$FLOW_RUN_ID"'
PRODUCTION_STEPS = (
    SETUP, CREATE_POOL, CREATE_LIMIT, DEPLOY, INSPECT, START_WORKER, RUN_NOW, RUN_BACKFILL, RUN_MONTH,
    RETRY, WATCH,
)  # fmt: skip

_LOCAL_STATE = {".git", ".venv", ".pytest_cache", ".ruff_cache", ".env", "out", "data", "build"}


def clone_repo(clone: Path) -> Path:
    """A copy of the repository at `clone`, as a fresh clone holds it."""
    shutil.copytree(ROOT, clone, ignore=not_code)
    return clone


def not_code(folder: str, names: list[str]) -> set[str]:
    """What a fresh clone would not hold: local state and secrets at the top, caches anywhere."""
    skip = {n for n in names if n == "__pycache__" or n.endswith(".egg-info")}
    if Path(folder) == ROOT:
        skip |= _LOCAL_STATE & set(names)
    return skip


@dataclass(frozen=True)
class Done:
    command: str
    returncode: int
    output: str

    def ok(self) -> Done:
        assert self.returncode == 0, f"`{self.command}` exited {self.returncode}:\n{self.output}"
        return self


@dataclass
class Shell:
    """bash in a folder with an environment: runs the README's lines as written."""

    cwd: Path
    env: dict[str, str]
    started: list[tuple[subprocess.Popen, Path]] = field(default_factory=list)

    def with_env(self, cwd: Path | None = None, **env: str) -> Shell:
        return Shell(cwd or self.cwd, {**self.env, **env}, self.started)

    def run(self, command: str, timeout: float = 120) -> Done:
        process = self.spawn(command, subprocess.PIPE)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_group(process, grace=5)
            output, _ = process.communicate()
            pytest.fail(f"`{command}` did not finish in {timeout}s:\n{output}")
        finally:
            stop_group(process, grace=5)
        return Done(command, process.returncode, output)

    def spawn(self, command: str, stdout) -> subprocess.Popen:
        return subprocess.Popen(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, text=True,
            stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def run_together(self, commands: list[str], timeout: float = 180) -> list[Done]:
        """Start every command at once, wait for all (one deadline for the lot)."""
        with contextlib.ExitStack() as stack:
            outputs = [stack.enter_context(tempfile.TemporaryFile("w+")) for _ in commands]
            processes = [self.spawn(c, o) for c, o in zip(commands, outputs, strict=True)]
            for process in processes:
                stack.callback(stop_group, process, 5)
            deadline = time.monotonic() + timeout
            for command, process in zip(commands, processes, strict=True):
                try:
                    process.wait(timeout=max(1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pytest.fail(f"`{command}` did not finish in {timeout}s")
            for output in outputs:
                output.seek(0)
            return [
                Done(c, p.returncode, o.read())
                for c, p, o in zip(commands, processes, outputs, strict=True)
            ]

    def start(self, command: str, log: Path) -> subprocess.Popen:
        """A long-running command in the background; `stop_all` ends it and its children."""
        with log.open("wb") as sink:
            process = subprocess.Popen(
                ["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env,
                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.started.append((process, log))
        return process

    def stop_all(self) -> None:
        """Stop each background command with everything it started (a worker's flow runs too)."""
        while self.started:
            process, _ = self.started.pop()
            stop_tree(process)


def production_env(prefect_env: dict[str, str]) -> dict[str, str]:
    """This environment minus appbuzz/X/Prefect settings, plus the server and the venv on PATH."""
    return clean_env(
        {
            **prefect_env,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # the terminal of a test has no width: keep rich from wrapping ids and names
            "COLUMNS": "200",
        },
        drop=("PREFECT_",),
    )


@dataclass(frozen=True)
class Deployed:
    """A copy of the repo at another path, deployed from there to a Prefect server."""

    clone: Path
    shell: Shell
    prefect: PrefectApi


@contextlib.contextmanager
def workers(env: dict[str, str], folder: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """`start(**env)`: one more `prefect worker start --pool appbuzz-process` in `folder` (not
    the clone: the deployment says where the code is), its log beside it; on exit every worker
    is stopped with its flow runs and the end of its log printed."""
    (folder / "worker").mkdir()
    # polling every second instead of every 10 keeps the tests short; nothing else differs
    shell = Shell(folder / "worker", {**env, "PREFECT_WORKER_QUERY_SECONDS": "1"})

    def start(**more: str) -> subprocess.Popen:
        log = folder / f"worker-{len(shell.started)}.log"
        return shell.with_env(**more).start(START_WORKER, log)

    try:
        yield start
    finally:
        logs = [log for _, log in shell.started]
        shell.stop_all()
        for log in logs:
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")


def worker_env(fake: FakeXApi, postgres_url: str, tmp_path: Path) -> dict[str, str]:
    """What an operator sets on a worker, pointed at the fake; backoffs shortened for a test."""
    return {
        "APPBUZZ_DATABASE_URL": postgres_url,
        "APPBUZZ_OUT_DIR": str(tmp_path / "out"),
        "APPBUZZ_RESULTS_DIR": str(tmp_path / "results"),
        "X_BEARER_TOKEN": fake.token,
        "X_API_BASE_URL": fake.base_url,
        "APPBUZZ_X_RETRY_BASE_SECONDS": "0.02",
        "APPBUZZ_X_TIMEOUT_SECONDS": "10",
    }


def flow_run_id(output: str) -> str:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, f"no flow run id in:\n{output}"
    return match.group(1)
