"""Waiting in tests for something another process does, without hanging the suite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T], timeout: float = 60, what: str = "", interval: float = 0.1
) -> T:
    """Poll until `predicate` gives something true and return it; fail the test (not hang)
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)
