"""The app-mentions flow with mention counts, in process (Prefect's test harness), against the
loopback fake X API over real HTTP, loading a real database."""

from __future__ import annotations

import logging
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

from sinks.tables import app_mentions as app_mentions_table
from sinks.tables import appbuzz_runs
from tests.fake_x_api import SEARCH, FakeXApi
from tests.support.postgres import table_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")


ROOMY = Decimal(100)  # a spend cap these tests never reach (the cap has tests of its own)


def test_every_app_gets_the_services_exact_count_through_a_small_window(
    x_env: FakeXApi, run_flow, sqlite_url: str
) -> None:
    x_env.set_rate_limit(4, window_seconds=1.0)
    state = run_flow()
    assert state.is_completed(), state.message
    rows = table_rows(sqlite_url, app_mentions_table)
    assert len(rows) == 10
    for row in rows:
        assert row["mention_status"] == "ok", row
        assert row["n_citacoes"] == x_env.total_for(row["mention_query"])
        assert row["mention_query"].endswith('" -is:retweet') and row["x_requests"] == 1
        assert row["window_start"] is not None and row["window_end"] is not None
    assert x_env.statuses().count(200) == 10
    assert x_env.statuses().count(429) <= 2 and x_env.max_in_flight <= 5
    (run,) = table_rows(sqlite_url, appbuzz_runs)
    assert (run["status"], run["mentions_ok"], run["x_requests"]) == ("completed", 10, 10)


@pytest.mark.parametrize("limit", [None, 3])
def test_requests_in_flight_stay_within_the_setting(
    x_env: FakeXApi, run_flow, monkeypatch: pytest.MonkeyPatch, limit: int | None
) -> None:
    if limit:
        monkeypatch.setenv("APPBUZZ_X_MAX_CONCURRENCY", str(limit))
    x_env.latency = 0.15
    state = run_flow(top_n=25)
    assert state.is_completed(), state.message
    assert len(x_env.requests) == 25
    assert 2 <= x_env.max_in_flight <= (limit or 5)


def test_a_prefect_concurrency_limit_when_the_server_has_one(
    x_env: FakeXApi, run_flow, caplog: pytest.LogCaptureFixture
) -> None:
    x_env.latency = 0.15
    with get_client(sync_client=True) as client:
        client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name="x-api", limit=2))
    try:
        with caplog.at_level(logging.INFO):
            state = run_flow(top_n=6)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_global_concurrency_limit_by_name("x-api")
    assert state.is_completed(), state.message
    assert len(x_env.requests) == 6 and x_env.max_in_flight <= 2
    assert "within Prefect concurrency limit 'x-api'" in caplog.text


def test_a_503_is_retried_and_a_400_fails_only_its_app(
    x_env: FakeXApi, run_flow, sample_top_queries: list[str], sqlite_url: str
) -> None:
    unavailable, invalid = sample_top_queries[2:4]  # by query: request order is a race
    x_env.script("status", status=503, query=unavailable)
    x_env.script("status", status=400, query=invalid)
    state = run_flow()
    assert state.is_completed(), state.message
    rows = {r["mention_query"]: r for r in table_rows(sqlite_url, app_mentions_table)}
    assert len(rows) == 10
    assert rows[unavailable]["mention_status"] == "ok" and rows[unavailable]["x_requests"] == 2
    assert rows[unavailable]["n_citacoes"] == x_env.total_for(unavailable)
    assert rows[invalid]["mention_status"] == "failed" and rows[invalid]["n_citacoes"] is None
    assert rows[invalid]["mention_error"] == "400 Bad Request: scripted: invalid query"
    others = [r for q, r in rows.items() if q != invalid]
    assert all(r["mention_status"] == "ok" for r in others)
    assert all(r["n_citacoes"] == x_env.total_for(r["mention_query"]) for r in others)
    (run,) = table_rows(sqlite_url, appbuzz_runs)
    assert (run["mentions_ok"], run["mentions_failed"], run["x_requests"]) == (9, 1, 11)


def test_a_retried_flow_run_asks_only_for_apps_not_yet_counted(
    x_env: FakeXApi, run_flow, sqlite_url: str
) -> None:
    x_env.script("status", status=400, after=6)
    assert run_flow().is_completed()
    failed = next(r.query for r in x_env.requests if r.status == 400)
    x_env.reset_records()
    assert run_flow().is_completed()
    assert [r.query for r in x_env.requests] == [failed]  # the other nine came from the cache
    rows = table_rows(sqlite_url, app_mentions_table)
    assert all(r["mention_status"] == "ok" for r in rows)
    runs = sorted(table_rows(sqlite_url, appbuzz_runs), key=lambda r: r["started_at"])
    assert [r["x_requests"] for r in runs] == [10, 1]
    x_env.reset_records()
    assert run_flow(snapshot_date=date(2026, 1, 16)).is_completed()
    assert len(x_env.requests) == 10  # another night is another count


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_refused_token_fails_the_run_and_leaves_the_snapshot_alone(
    x_env: FakeXApi,
    run_flow,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    database: str,
) -> None:
    url = request.getfixturevalue("sqlite_url" if database == "sqlite" else "postgres_url")
    monkeypatch.setenv("APPBUZZ_DATABASE_URL", url)
    assert run_flow(top_n=20).is_completed()
    before = table_rows(url, app_mentions_table)
    x_env.reset_records()
    x_env.latency = 0.1
    x_env.script("status", status=401, after=2)
    state = run_flow(
        top_n=20, strategy="search", max_pages=1, max_spend_usd=ROOMY
    )  # not cached: asks
    assert state.is_failed()
    assert state.message == (
        "the X API refused X_BEARER_TOKEN (401 Unauthorized: Unauthorized); "
        "set X_BEARER_TOKEN to a valid app-only bearer token"
    )
    refusal = next(r for r in x_env.requests if r.status == 401)
    # nothing was sent after the refusal but what was already in flight, so most apps never were
    assert [r for r in x_env.requests if r.started > refusal.finished + 0.1] == []
    assert len(x_env.requests) < 15
    assert table_rows(url, app_mentions_table) == before
    runs = {r["status"]: r for r in table_rows(url, appbuzz_runs)}
    assert runs.keys() == {"completed", "failed"}
    assert runs["failed"]["message"] == state.message and runs["failed"]["strategy"] == "search"
    # the retry (the token fixed) asks for every app not counted before the refusal
    counted = {r.query for r in x_env.requests if r.status == 200}
    x_env.reset_records()
    x_env.latency = 0.0
    assert run_flow(top_n=20, strategy="search", max_pages=1, max_spend_usd=ROOMY).is_completed()
    asked = [r.query for r in x_env.requests]
    assert len(asked) == 20 - len(counted) and not counted & set(asked)
    assert {r["mention_status"] for r in table_rows(url, app_mentions_table)} <= {"ok", "capped"}


def test_search_with_two_pages_counts_at_most_two_hundred(
    x_env: FakeXApi, run_flow, sqlite_url: str
) -> None:
    state = run_flow(strategy="search", max_pages=2, top_n=15, max_spend_usd=ROOMY)
    assert state.is_completed(), state.message
    rows = table_rows(sqlite_url, app_mentions_table)
    for row in rows:
        total, sent = (
            x_env.total_for(row["mention_query"]),
            x_env.requests_for(row["mention_query"]),
        )
        assert row["n_citacoes"] == min(total, 200)
        assert row["mention_status"] == ("capped" if total > 200 else "ok")
        assert row["x_requests"] == len(sent) <= 2 and all(r.path == SEARCH for r in sent)
    assert {r["mention_status"] for r in rows} == {"ok", "capped"}
    (run,) = table_rows(sqlite_url, appbuzz_runs)
    assert run["posts_consumed"] == sum(r["n_citacoes"] for r in rows)
    assert run["mentions_capped"] == sum(r["mention_status"] == "capped" for r in rows)


def test_without_a_token_every_app_is_skipped_loudly(
    x_env: FakeXApi,
    run_flow,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    state = run_flow()
    assert state.is_completed(), state.message
    rows = table_rows(sqlite_url, app_mentions_table)
    assert len(rows) == 10 and x_env.requests == []
    assert all(r["mention_status"] == "skipped" and r["n_citacoes"] is None for r in rows)
    assert all(r["mention_query"] and r["mention_query"].startswith('"') for r in rows)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("X_BEARER_TOKEN is not set" in m for m in warnings)


def test_bad_strategy_is_rejected_before_anything_is_written(
    x_env: FakeXApi, run_flow, tmp_path: Path
) -> None:
    state = run_flow(strategy="scrape")
    assert state.is_failed() and state.name == "Rejected"
    assert "strategy" in state.message and x_env.requests == []
    assert not (tmp_path / "out").exists()
