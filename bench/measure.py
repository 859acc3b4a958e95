"""Run a command as its own process and measure it: wall time and peak resident memory.

Peak memory comes from the kernel's accounting of the process (`ru_maxrss`), so it is the
whole process, interpreter and libraries included, not what one function allocated. The command
runs under GNU time (`/usr/bin/time`) when it is there: Linux carries a process's high-water
mark across `exec` into the new program, so a child forked straight from this (large) Python
process would report at least this process's size; GNU time is a small C program that forks.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class Run:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Case:
    """One thing measured several times; the median is what the table shows."""

    name: str
    scale: str
    runs: list[Run] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.peak_rss_mb for r in self.runs)

    @property
    def ok(self) -> bool:
        return bool(self.runs) and all(r.returncode == 0 for r in self.runs)


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> Run:
    """Start `command`, wait for it, and return its wall time, peak RSS and output."""
    with _capture(cwd) as (out, err), tempfile.NamedTemporaryFile("r", dir=cwd) as report:
        if GNU_TIME.exists():
            command = [str(GNU_TIME), "-q", "-f", "%M", "-o", report.name, *command]
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # interrupted: take the child down with us
            process.kill()
            process.wait()
            raise
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        peak_kb = usage.ru_maxrss
        if GNU_TIME.exists():
            lines = report.read().split()
            peak_kb = int(lines[-1]) if lines and lines[-1].isdigit() else peak_kb
    return Run(wall, peak_kb / 1024, process.returncode, stdout, stderr)


@contextmanager
def _capture(cwd: Path | None) -> Iterator[tuple[IO[bytes], IO[bytes]]]:
    """Two temporary files for the child's output (pipes could fill up and stall it)."""
    with tempfile.TemporaryFile(dir=cwd) as out, tempfile.TemporaryFile(dir=cwd) as err:
        yield out, err
