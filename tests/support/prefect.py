"""Prefect for the tests: one real server per test session (the benchmarks' starter), and what
the server holds about flow runs, read back through its REST API."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench import services
from bench.services import PrefectServer

__all__ = ["PrefectServer", "prefect_records", "prefect_server"]

# The tests' servers do not turn deployments' schedules into runs on their own: the nightly cron
# (03:00 UTC) would otherwise start a real night in whichever test's workers span 03:00 (CI's run
# on 2026-12-02 met one). A test of the schedule asks the server for its runs instead.
_NO_SCHEDULER = {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}


@contextmanager
def prefect_server(ui: bool = False, **settings: str) -> Iterator[PrefectServer]:
    """The benchmarks' `prefect server start`, without its scheduler (see above)."""
    with services.prefect_server(ui, **{**_NO_SCHEDULER, **settings}) as server:
        yield server


_KINDS = ("flow_runs", "task_runs", "logs", "artifacts")
_PAGE = 200


def prefect_records(api_url: str, flow_run_id: str | None = None) -> dict[str, list[Any]]:
    """Flow runs (parameters, states), task runs, logs and artifacts as the API returns them:
    of one flow run, or (`flow_run_id` None) of every run the server holds."""
    records: dict[str, list[Any]] = {}
    with httpx.Client(base_url=api_url, timeout=30) as client:
        for kind in _KINDS:
            query: dict[str, Any] = {}
            if flow_run_id is not None:
                field = "id" if kind == "flow_runs" else "flow_run_id"
                query = {kind: {field: {"any_": [flow_run_id]}}}
            if kind == "task_runs" and flow_run_id is not None:
                query = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
            records[kind] = []
            while True:
                page = client.post(
                    f"/{kind}/filter",
                    json={**query, "limit": _PAGE, "offset": len(records[kind])},
                ).raise_for_status()
                records[kind] += page.json()
                if len(page.json()) < _PAGE:
                    break
    return records
