"""Stopping what a test started: the whole process group (a CLI's or a worker's children too),
never anything else."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
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
