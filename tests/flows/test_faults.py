"""The fault policy of the tasks: a database that does not answer is waited out long enough
for a restart; a bug gets two retries; a user's mistake or a spent account none."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from prefect.states import Failed

from flows.faults import DATABASE_RETRY_DELAYS, database_retries, transient_only
from transforms.errors import DatabaseUnavailable, InputRejected, XUsageCapped


def retried(error: Exception, attempt: int) -> bool:
    run: Any = SimpleNamespace(run_count=attempt)
    return transient_only(None, run, Failed(data=error))  # type: ignore[arg-type]


def test_a_database_restart_of_20_s_is_outlasted() -> None:
    options = database_retries()
    assert options["retries"] == len(DATABASE_RETRY_DELAYS)
    assert sum(options["retry_delay_seconds"]) >= 60  # 20 s away, a slow start, room
    assert all(retried(DatabaseUnavailable("away"), n) for n in range(1, 6))


@pytest.mark.parametrize("error", [InputRejected("bad"), XUsageCapped("spent")])
def test_a_mistake_or_a_spent_account_is_never_retried(error: Exception) -> None:
    assert not retried(error, 1)


def test_a_bug_gets_two_retries_not_a_minute() -> None:
    assert [retried(KeyError("bug"), n) for n in (1, 2, 3)] == [True, True, False]
