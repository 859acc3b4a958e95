"""The flow's fault policy, in one place: which task failures are worth a retry, and how an
expected failure is logged (one line, no traceback).

A task raises the typed errors of `transforms.errors`; the flow is the one boundary that turns
them into its `Failed` state with the one-line message (named `Rejected` for a user's mistake).
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import State, Task
from prefect.client.schemas.objects import TaskRun

from transforms.errors import AppbuzzError, DatabaseUnavailable

# A task that reads or writes the database waits out a database restart: these delays (67 s
# in all) outlast a PostgreSQL server that is away for 20 s plus the time it takes to accept
# connections again, with room for a loaded machine. Other unexpected exceptions (a bug, or a
# fault we do not know) get the first two delays only: a bug should not hold a night a minute.
DATABASE_RETRY_DELAYS = [2, 5, 10, 20, 30]
OTHER_FAULT_RETRIES = 2


def transient_only(_task: Task[Any, Any], run: TaskRun, state: State[Any]) -> bool:
    """Retry what may pass by itself (a database that did not answer, a dropped connection, a
    bug's exception that might be a fault); never a user's mistake or a spent X account."""
    error = state.result(raise_on_failure=False)
    if isinstance(error, DatabaseUnavailable):
        return True
    return not isinstance(error, AppbuzzError) and run.run_count <= OTHER_FAULT_RETRIES


def database_retries() -> dict[str, Any]:
    """The retry options of a task that needs the database: `@task(**database_retries(), ...)`."""
    return {
        "retries": len(DATABASE_RETRY_DELAYS),
        "retry_delay_seconds": list(DATABASE_RETRY_DELAYS),
        "retry_condition_fn": transient_only,
    }


class _OneLineTaskFailures(logging.Filter):
    """Prefect logs a task's exception as an error with its traceback; for an `AppbuzzError`
    the flow's `Failed` state carries the one line that matters (the CLI prints it, the UI shows
    it), so the task's line stays in the run's log as INFO, without the traceback, and a
    terminal showing warnings sees only that one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], AppbuzzError):
            record.exc_info, record.exc_text = None, None
            self._as_info(record)
        elif record.levelno >= logging.ERROR and _names_an_appbuzz_error(record.getMessage()):
            self._as_info(record)  # the task's "Finished in state Failed(...)" line
        return True

    @staticmethod
    def _as_info(record: logging.LogRecord) -> None:
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)


def _names_an_appbuzz_error(message: str) -> bool:
    """Prefect's state message for a task that raised: "... encountered an exception NAME: ..."."""
    kinds, names = [AppbuzzError], set()
    while kinds:
        kind = kinds.pop()
        names.add(kind.__name__)
        kinds.extend(kind.__subclasses__())
    return any(f"exception {name}:" in message for name in names)


logging.getLogger("prefect.task_runs").addFilter(_OneLineTaskFailures())
