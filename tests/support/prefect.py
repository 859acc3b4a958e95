"""Prefect for the tests: one real server per test session (the benchmarks' starter), and what
a server holds about flow runs, read back through its REST API (`PrefectApi`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from bench import services
from bench.services import PrefectServer

__all__ = ["PrefectApi", "PrefectServer", "prefect_server"]

# The tests' servers do not turn deployments' schedules into runs on their own: the nightly cron
# (03:00 UTC) would otherwise start a real night in whichever test's workers span 03:00 (CI's run
# on 2026-12-02 met one). A test of the schedule asks the server for its runs instead.
_NO_SCHEDULER = {"PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false"}
# As the README's server runs: concurrency leases kept on disk, so a restart forgets none
LEASES_ON_DISK = {
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem"
}


@contextmanager
def prefect_server(ui: bool = False, **settings: str) -> Iterator[PrefectServer]:
    """The benchmarks' `prefect server start`, configured as in production, without its
    scheduler (see above)."""
    with services.prefect_server(ui, **{**LEASES_ON_DISK, **_NO_SCHEDULER, **settings}) as server:
        yield server


_KINDS = ("flow_runs", "task_runs", "logs", "artifacts")
_PAGE = 200


class PrefectApi:
    """A Prefect server's REST API as the tests read it, the one client they share: JSON back,
    a busy (SQLite-backed) server's 503s waited out, filters followed past the API's pages."""

    def __init__(self, api_url: str) -> None:
        self.url = api_url.rstrip("/")

    @property
    def ui(self) -> str:
        return self.url.removesuffix("/api")

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        for _ in range(10):
            response = httpx.request(method, f"{self.url}{path}", timeout=30, **kwargs)
            if response.status_code != 503:
                break
            time.sleep(1)
        response.raise_for_status()
        return response.json() if response.content else None

    def filter(self, kind: str, query: dict[str, Any] | None = None) -> list[Any]:
        """Every `kind` (flow_runs, task_runs, logs, ...) the query matches, oldest page first."""
        found: list[Any] = []
        while True:
            body = {**(query or {}), "limit": _PAGE, "offset": len(found)}
            page = self.call("POST", f"/{kind}/filter", json=body)
            found += page
            if len(page) < _PAGE:
                return found

    def flow_run(self, run_id: str) -> dict[str, Any]:
        return dict(self.call("GET", f"/flow_runs/{run_id}"))

    def states(self, run_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", "/flow_run_states/", params={"flow_run_id": run_id}))

    def task_runs(self, run_id: str) -> list[dict[str, Any]]:
        return self.filter("task_runs", {"flow_runs": {"id": {"any_": [run_id]}}})

    def logs(self, run_id: str) -> list[str]:
        """The run's log messages, oldest first: every line the server holds."""
        return [log["message"] for log in self.filter("logs", _of_run("logs", run_id))]

    def artifact(self, run_id: str, key: str) -> str:
        query = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [key]}}}
        (found,) = self.filter("artifacts", query)
        return str(found["data"])

    def records(self, run_id: str | None = None) -> dict[str, list[Any]]:
        """Flow runs (parameters, states), task runs, logs and artifacts as the API returns them:
        of one flow run, or (`run_id` None) of every run the server holds."""
        return {kind: self.filter(kind, _of_run(kind, run_id)) for kind in _KINDS}


def _of_run(kind: str, run_id: str | None) -> dict[str, Any]:
    if run_id is None:
        return {}
    if kind == "task_runs":
        return {"flow_runs": {"id": {"any_": [run_id]}}}
    return {kind: {"id" if kind == "flow_runs" else "flow_run_id": {"any_": [run_id]}}}
