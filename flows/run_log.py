"""The logger of the flow or task run in progress, so a task's lines reach the Prefect UI; outside
a run (a task's unit test calls its function) the module logger, so the same code runs there."""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

_OUTSIDE_A_RUN = logging.getLogger("appbuzz")


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    try:
        return get_run_logger()
    except MissingContextError:
        return _OUTSIDE_A_RUN
