"""The nightly deployment counting mentions against the loopback fake X API, on process workers.

Retries that resume: a run the X API refuses halfway fails; `prefect flow-run retry` runs it
again on a worker, and only the apps not yet counted are asked for. One limit for all: the
global concurrency limit the README creates holds two runs on two workers to its size together.
About 70 seconds for both.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest

from sinks.tables import app_mentions, appbuzz_runs
from tests.deploy.production import (
    CREATE_LIMIT,
    RETRY,
    RUN_NOW,
    WATCH,
    Deployed,
    Done,
    flow_run_id,
    worker_env,
)
from tests.fake_x_api import FakeXApi
from tests.support.polling import wait_for
from tests.support.postgres import table_rows

pytestmark = pytest.mark.postgres


def watch_retried(shell, timeout: float = 180) -> Done:
    """The README's `prefect flow-run watch`, run again while it stops at once on the run's old
    end: Prefect 3.9 replays the last minute of events, the first attempt's `Failed` included."""
    deadline = time.monotonic() + timeout
    while True:
        done = shell.run(WATCH, timeout=max(10, deadline - time.monotonic()))
        early = "before it reached a terminal state" in done.output
        if not early or time.monotonic() > deadline:
            return done.ok()


def run_logs(deployed: Deployed, run_id: str) -> list[dict]:
    body = {"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200}
    return deployed.api("POST", "/logs/filter", json=body).json()


def artifact(deployed: Deployed, run_id: str, key: str) -> str:
    body = {"artifacts": {"flow_run_id": {"any_": [run_id]}, "key": {"any_": [key]}}}
    (found,) = deployed.api("POST", "/artifacts/filter", json=body).json()
    return found["data"]


def task_states(deployed: Deployed, run_id: str) -> Counter:
    body = {"flow_runs": {"id": {"any_": [run_id]}}, "limit": 200}
    runs = deployed.api("POST", "/task_runs/filter", json=body).json()
    return Counter(r["state_name"] for r in runs if r["name"].startswith("count-mentions-"))


def test_a_failed_run_retried_asks_only_for_the_apps_not_yet_counted(
    deployed: Deployed,
    worker,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv: Path,
    tmp_path,
) -> None:
    fake_x_api.latency = 0.2  # several requests in flight when the refusal comes
    fake_x_api.script("status", status=401, after=4)  # the fifth request refused, once
    worker(**worker_env(fake_x_api, postgres_url, tmp_path))
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))

    first = shell.run(RUN_NOW, timeout=180)
    assert first.returncode == 1 and "finished in state 'Failed'" in first.output, first.output
    run_id = flow_run_id(first.output)
    failed = deployed.api("GET", f"/flow_runs/{run_id}").json()
    assert "the X API refused X_BEARER_TOKEN" in failed["state"]["message"]
    assert table_rows(postgres_url, app_mentions, app_mentions.c.rank) == []  # nothing half-loaded
    counted_first = {r.query for r in fake_x_api.requests if r.status == 200}
    asked_first = len(fake_x_api.requests)
    assert 0 < len(counted_first) < 10, "the refusal came halfway"

    retry = shell.with_env(FLOW_RUN_ID=run_id)
    assert "scheduled for retry" in retry.run(RETRY).ok().output
    assert "'Completed'" in watch_retried(retry).output

    asked_again = [r.query for r in fake_x_api.requests[asked_first:]]
    assert not counted_first & set(asked_again), "an app counted before was asked again"
    answered = Counter(r.query for r in fake_x_api.requests if r.status == 200)
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert [r["rank"] for r in rows] == list(range(1, 11))
    assert len({r["app_id"] for r in rows}) == 10
    assert answered == Counter(r["mention_query"] for r in rows), "each app counted once"
    for row in rows:
        assert row["mention_status"] == "ok"
        assert row["n_citacoes"] == fake_x_api.total_for(row["mention_query"])
    runs = table_rows(postgres_url, appbuzz_runs, appbuzz_runs.c.started_at)
    assert [(r["flow_run_id"], r["status"]) for r in runs] == [
        (run_id, "failed"),
        (run_id, "completed"),
    ]
    assert runs[1]["x_requests"] == len(asked_again)  # the cached apps spent nothing
    # the same flow run, its second attempt: the apps counted before came from the cache
    assert task_states(deployed, run_id)["Cached"] == len(counted_first)

    # each app's task said what it asked, what it got and what is left of the rate limit
    def lines_per_app() -> dict[int, list[str]] | None:
        logs = [log["message"] for log in run_logs(deployed, run_id)]
        opening = "app {app_id}: {n_citacoes} mentions (ok) in 1 request"
        said = {
            row["app_id"]: [m for m in logs if m.startswith(opening.format(**row))] for row in rows
        }
        return said if all(said.values()) else None

    # logs reach the server in batches, possibly after the run's final state
    said = wait_for(lines_per_app, timeout=30, what="every app's log line", interval=0.5)
    for row in rows:
        lines = said[row["app_id"]]
        assert len(lines) == 1, (row, lines)
        assert f"query {row['mention_query']};" in lines[0]
        assert re.search(r"; \d+/300 requests left in the rate-limit window \(resets ", lines[0])
    # and the run's summary in the UI says all ten were counted, none failed
    summary = artifact(deployed, run_id, "app-mentions-summary")
    assert "mentions: ok 10, capped 0, failed 0" in summary and "Failed apps" not in summary


@pytest.fixture
def x_api_limit(deployed: Deployed) -> str:
    """The README's `prefect gcl create`, removed again so other tests run without it."""
    deployed.shell.run(CREATE_LIMIT).ok()
    yield "x-api"
    deployed.api("DELETE", "/v2/concurrency_limits/x-api")


def test_two_runs_on_two_workers_share_one_limit(
    deployed: Deployed,
    worker,
    x_api_limit: str,
    fake_x_api: FakeXApi,
    postgres_url,
    catalogue_csv,
    tmp_path,
) -> None:
    # slow replies keep each run counting for 12 s or more, longer than the skew between two
    # flow-run starts on a loaded machine, so the runs do overlap and share the limit
    fake_x_api.latency = 3.0
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))
    # both runs wait in the pool before the workers start, so they start together
    run_ids = []
    for genre in ("Book", "Music"):
        params = f"--param genres='[\"{genre}\"]' --param top_n=20"
        created = shell.run(RUN_NOW.replace("--watch", params)).ok()
        run_ids.append(flow_run_id(created.output))
    env = worker_env(fake_x_api, postgres_url, tmp_path)
    worker(**env)
    worker(**env)
    done = shell.run_together([WATCH.replace('"$FLOW_RUN_ID"', i) for i in run_ids], timeout=240)
    for result in done:
        assert "finished successfully in 'Completed'" in result.ok().output

    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    query_genre = {r["mention_query"]: r["prime_genre"] for r in rows}
    assert Counter(query_genre.values()) == {"Book": 20, "Music": 20}
    requests = fake_x_api.requests
    assert len(requests) == 40 and all(r.status == 200 for r in requests)
    # each run alone may have 5 in flight (APPBUZZ_X_MAX_CONCURRENCY); together still 5 at most
    assert fake_x_api.max_in_flight <= 5
    overlapping = [
        (a, b)
        for a in requests
        for b in requests
        if query_genre[a.query] == "Book"
        and query_genre[b.query] == "Music"
        and a.started < b.finished
        and b.started < a.finished
    ]
    assert overlapping, "the two runs never counted at the same time: the test proved nothing"
    for run_id in run_ids:
        logs = run_logs(deployed, run_id)
        assert any("within Prefect concurrency limit 'x-api'" in log["message"] for log in logs)
