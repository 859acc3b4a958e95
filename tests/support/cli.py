"""`appbuzz ...` as a person runs it: `python -m cli` as a subprocess in a folder of its
own, with a clean environment (tests/support/environment.py) plus what the test gives it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from tests.support.environment import clean_env
from tests.support.processes import stop_group

# Enough for a nightly run on a shared 2-core machine; a hung run fails the test, never the suite.
CLI_TIMEOUT = 180


@dataclass(frozen=True)
class Job:
    """One `appbuzz` invocation: where it runs, its arguments, extra environment."""

    cwd: Path
    args: Sequence[str]
    env: Mapping[str, str] | None = None


class Cli:
    """Runs `appbuzz` with `base_env` (e.g. the session's Prefect server) added to a clean
    environment: one run, many at once, or one started to be stopped mid-way."""

    def __init__(
        self, base_env: Mapping[str, str] | None = None, drop: tuple[str, ...] = ()
    ) -> None:
        self._base_env = dict(base_env or {})
        self._drop = drop  # more prefixes to leave out of this process's environment

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return clean_env({**self._base_env, **(extra or {})}, drop=self._drop)

    def start(self, job: Job, log: IO[Any] | None = None) -> subprocess.Popen[str]:
        """Start a run in its own process group, so a stop reaches everything it started;
        output to pipes, or both streams to `log`."""
        job.cwd.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [sys.executable, "-m", "cli", *job.args],
            cwd=job.cwd, env=self.env(job.env), text=True, start_new_session=True,
            stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT if log else subprocess.PIPE,
        )  # fmt: skip

    def run(self, job: Job, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        process = self.start(job)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        finally:
            stop_group(process, grace=0)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def run_many(
        self, jobs: Sequence[Job], workers: int = 3
    ) -> list[subprocess.CompletedProcess[str]]:
        """Independent runs side by side (each its own folder and database): the machine has
        two cores and a run spends much of its time starting up and talking to Prefect."""
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(self.run, jobs))
