"""Stopping what a test started: the whole process group (a CLI's or a worker's children too),
and, for a Prefect worker, the flow runs it started in sessions of their own; never anything
else."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any


def stop_group(process: subprocess.Popen[Any], grace: float = 20) -> None:
    """SIGTERM the process group, SIGKILL what is left after `grace` seconds (at once when
    `grace` is 0), and reap the leader. The process must have been started with
    `start_new_session=True`."""
    steps = (
        [(signal.SIGKILL, 30.0)]
        if grace <= 0
        else [(signal.SIGTERM, grace), (signal.SIGKILL, 10.0)]
    )
    for sig, wait in steps:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; children it left behind in the group go too
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, in whatever session (a worker's flow runs have their own)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_tree(process: subprocess.Popen[Any], grace: float = 20) -> None:
    """`stop_group`, then SIGKILL to what the process started outside its group and left."""
    below = descendants(process.pid)
    stop_group(process, grace)
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
