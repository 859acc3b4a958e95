"""Is this attempt still the night's? An attempt the server gave up on must stop asking X.

A night whose run is marked `Crashed` while its process still lives (no progress for
APPBUZZ_STALL_AFTER_SECONDS, or heartbeats lost on the way to a busy server) is scheduled again
by the restart automation and taken up by a worker: the old process must not go on asking X for
the same apps, hold slots of the `x-api` limit, nor write the night's state over the new
attempt's. While the run counts, a thread reads the run's own state back from the server every
`CHECK_EVERY_SECONDS` (and each X request checks first, at most as often): when the run is
`Crashed`, scheduled again or running as a later attempt, this process logs one line and ends at
once, with exit status 0 so that its worker proposes nothing for the run (its requests in
flight end with it, their slots' leases are no longer renewed). What it counted is in the
ledger already; the new attempt asks only for the rest. `Cancelling` is left to the worker.

A server that does not answer says nothing about the attempt: the check passes (the server's
restart is the client's retries' business, not a reason to stop a night).
"""

from __future__ import annotations

import os
import threading
import time
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType

from flows.run_log import run_logger

CHECK_EVERY_SECONDS = 10.0
# the states in which the server no longer counts on this attempt
GIVEN_UP = {StateType.CRASHED, StateType.SCHEDULED, StateType.PENDING}
LOG_FLUSH_SECONDS = 3.0


class Liveness:
    """The attempt `run_count` of flow run `run_id`, checked against the server's view."""

    def __init__(self, run_id: UUID, run_count: int) -> None:
        self.run_id = run_id
        self.run_count = run_count
        self._checked = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Liveness:
        """Checked in the background too, until the block ends (before the run's final state)."""
        self._thread = threading.Thread(target=self._watch, name="appbuzz-liveness", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=CHECK_EVERY_SECONDS + 15)

    def _watch(self) -> None:
        while not self._stopped.wait(CHECK_EVERY_SECONDS):
            self.check()

    def check(self) -> None:
        """Return when this attempt is still the night's (or the server cannot say); end the
        process when it is not."""
        with self._lock:
            if time.monotonic() - self._checked < CHECK_EVERY_SECONDS:
                return
            self._checked = time.monotonic()
        superseded = self.superseded()
        if superseded is not None and not self._stopped.is_set():
            run_logger().warning(
                "this attempt (%d) of the night stops without asking X again: %s",
                self.run_count, superseded,
            )  # fmt: skip
            _end_process()

    def superseded(self) -> str | None:
        """Why this attempt is no longer the night's, or None."""
        try:
            with get_client(sync_client=True) as client:
                run = client.read_flow_run(self.run_id)
        except Exception:  # the server away or busy: it says nothing about this attempt
            return None
        state = run.state
        if state is None:
            return None
        if state.type in GIVEN_UP:
            return f"the run is {state.name} on the server ({state.message or 'no message'})"
        if state.type == StateType.RUNNING and run.run_count != self.run_count:
            return f"the run is running again as attempt {run.run_count}"
        return None


def _end_process() -> None:
    """Flush what can be flushed and leave without touching the run's state (exit status 0:
    the worker proposes nothing). Logs and events already sent stay on the server."""
    time.sleep(LOG_FLUSH_SECONDS)  # Prefect's log worker sends its batch every 2 s
    os._exit(0)
