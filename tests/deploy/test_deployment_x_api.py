"""The nightly deployment counting mentions against the loopback fake X API, on process workers.

Retries that resume: a run the X API refuses halfway fails; `prefect flow-run retry` runs it
again on a worker, and only the apps not yet counted are asked for. One limit for all: the
global concurrency limit the README creates holds two runs on two workers to its size together.
About 70 seconds for both.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sinks.tables import app_mention_days, app_mentions, appbuzz_runs, mention_ledger
from tests.deploy.production import (
    CREATE_LIMIT,
    RETRY,
    RUN_MONTH,
    RUN_NOW,
    SETUP,
    WATCH,
    Deployed,
    Done,
    flow_run_id,
    worker_env,
)
from tests.fake_x_api import ARCHIVE, FakeXApi
from tests.secret_scan import files_holding
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.processes import stop_tree

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


def task_states(deployed: Deployed, run_id: str) -> Counter:
    runs = deployed.prefect.task_runs(run_id)
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
    failed = deployed.prefect.flow_run(run_id)
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
        logs = deployed.prefect.logs(run_id)
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
    summary = deployed.prefect.artifact(run_id, "app-mentions-summary")
    assert "mentions: ok 10, capped 0, failed 0" in summary and "Failed apps" not in summary


@pytest.fixture
def x_api_limit(deployed: Deployed) -> str:
    """The README's `prefect gcl create`, removed again so other tests run without it."""
    deployed.shell.run(CREATE_LIMIT).ok()
    yield "x-api"
    deployed.prefect.call("DELETE", "/v2/concurrency_limits/x-api")


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
        logs = deployed.prefect.logs(run_id)
        assert any("within Prefect concurrency limit 'x-api'" in log for log in logs)


def machine_env(fake: FakeXApi, postgres_url: str, machine: Path, address: str) -> dict[str, str]:
    """A worker on a machine of its own: its Prefect home, its results folder, its own address
    for the same X API; only the database is shared."""
    return {
        **worker_env(fake, postgres_url, machine),
        "PREFECT_HOME": str(machine / "prefect-home"),
        "APPBUZZ_RESULTS_DIR": str(machine / "results"),
        "X_API_BASE_URL": fake.base_url.replace("127.0.0.1", address),
        "APPBUZZ_X_MAX_CONCURRENCY": "1",  # four counted before the cap is exactly four
    }


def test_a_spent_night_retried_on_another_machine_asks_only_the_apps_left(
    deployed: Deployed, worker, fake_x_api: FakeXApi, postgres_url: str, catalogue_csv, tmp_path
) -> None:
    fake_x_api.cap_after = 4
    machine_a = worker(**machine_env(fake_x_api, postgres_url, tmp_path / "a", "127.0.0.1"))
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))
    first = shell.run(RUN_NOW, timeout=180)
    assert first.returncode == 1, first.output
    run_id = flow_run_id(first.output)
    assert "usage cap is spent" in deployed.prefect.flow_run(run_id)["state"]["message"]
    counted = {r.query for r in fake_x_api.requests if r.status == 200}
    assert len(counted) == 4

    stop_tree(machine_a)  # that machine is gone; the cap is lifted; another machine takes over
    fake_x_api.lift_cap()
    fake_x_api.reset_records()
    worker(**machine_env(fake_x_api, postgres_url, tmp_path / "b", "localhost"))
    retry = shell.with_env(FLOW_RUN_ID=run_id)
    assert "scheduled for retry" in retry.run(RETRY).ok().output
    assert "'Completed'" in watch_retried(retry).output

    asked = [r.query for r in fake_x_api.requests]
    print(f"\nMEASURED: the retry on machine B asked X {len(asked)} time(s)")
    assert len(asked) == 6 and not counted & set(asked)
    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and {r["mention_status"] for r in rows} == {"ok"}
    # machine B never held machine A's results: the four came from the ledger
    assert task_states(deployed, run_id)["Held"] == 4


def test_a_token_from_a_secret_block_counts_and_is_nowhere_else(
    deployed: Deployed, worker, fake_x_api: FakeXApi, postgres_url: str, catalogue_csv, tmp_path
) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    fake_x_api.token = canary
    block = f"x-token-{uuid.uuid4().hex[:8]}"
    setup = deployed.shell.with_env(X_BEARER_TOKEN=canary, APPBUZZ_X_TOKEN_BLOCK=block)
    try:
        stored = setup.run(f"{SETUP} --x-token-from-env").ok().output
    finally:  # setup also made the x-api limit on the session's server: other tests run without
        deployed.prefect.call("DELETE", "/v2/concurrency_limits/x-api")
    assert f"secret block {block}: X_BEARER_TOKEN stored" in stored and canary not in stored
    env = worker_env(fake_x_api, postgres_url, tmp_path)
    del env["X_BEARER_TOKEN"]  # the workers hold no token: the block does
    worker(**env, APPBUZZ_X_TOKEN_BLOCK=block)
    done = deployed.shell.with_env(CATALOGUE=str(catalogue_csv)).run(RUN_NOW, timeout=180).ok()
    run_id = flow_run_id(done.output)

    rows = table_rows(postgres_url, app_mentions, app_mentions.c.rank)
    assert len(rows) == 10 and {r["mention_status"] for r in rows} == {"ok"}
    assert {r.authorization for r in fake_x_api.requests} == {f"Bearer {canary}"}
    records = deployed.prefect.records(run_id)
    assert len(records["logs"]) > 10 and len(records["artifacts"]) >= 2
    assert canary not in json.dumps(records) and canary not in done.output
    tables = [table_rows(postgres_url, t) for t in (app_mentions, appbuzz_runs, mention_ledger)]
    assert canary not in repr(tables)
    hits, read = files_holding(canary, [tmp_path])  # out, results, the worker's log
    assert hits == [] and read > 10


def test_the_month_deployment_backfills_thirty_days_and_a_second_run_asks_nothing(
    deployed: Deployed, worker, fake_x_api: FakeXApi, postgres_url: str, catalogue_csv, tmp_path
) -> None:
    """`app-backfill/month` on a process worker: one full-archive request per app, 30 whole days
    each before the run's date; run again, what was counted answers and X is not asked."""
    worker(**worker_env(fake_x_api, postgres_url, tmp_path))
    shell = deployed.shell.with_env(CATALOGUE=str(catalogue_csv))
    done = shell.run(RUN_MONTH, timeout=180).ok()
    run = deployed.prefect.flow_run(flow_run_id(done.output))
    until = datetime.fromisoformat(run["expected_start_time"]).astimezone(UTC).date()
    assert run["name"] == f"backfill 30 days to {until.isoformat()} Book+Music/top10"
    assert [r.path for r in fake_x_api.requests] == [ARCHIVE] * 10

    days = table_rows(postgres_url, app_mention_days)
    per_app = Counter(r["app_id"] for r in days)
    assert len(per_app) == 10 and set(per_app.values()) == {30}
    assert {r["day"] for r in days} == {until - timedelta(days=d) for d in range(1, 31)}
    assert all(r["whole"] and r["source"] == "all" for r in days)
    assert table_rows(postgres_url, app_mentions) == []  # history only: no snapshot, no files
    assert not (tmp_path / "out").exists()

    fake_x_api.reset_records()
    again = shell.run(RUN_MONTH, timeout=180).ok()
    assert fake_x_api.requests == []
    states = task_states(deployed, flow_run_id(again.output))
    assert states["Cached"] + states["Held"] == 10  # this worker's results, or else the ledger
