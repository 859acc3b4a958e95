"""What X costs, in process against the fake X API: exact dollars per app and per run, the spend
cap, and a database made by the previous appbuzz gaining the new columns in place."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Column, MetaData, Table, create_engine, inspect

from api.server import prepare
from sinks.database import check_database, make_engine
from sinks.tables import app_mentions as app_mentions_table
from sinks.tables import appbuzz_runs, metadata
from tests.fake_x_api import SEARCH, FakeXApi
from tests.support.postgres import table_rows

pytestmark = pytest.mark.usefixtures("prefect_harness")
PRICE = Decimal("0.005")
ADDED = {"app_mentions": {"posts_consumed", "x_cost_usd"}, "appbuzz_runs": {"x_cost_usd",
         "max_spend_usd"}}  # fmt: skip


def test_counts_of_ten_apps_cost_ten_requests_times_the_price(
    x_env: FakeXApi, run_flow, sqlite_url: str
) -> None:
    state = run_flow()
    assert state.is_completed(), state.message
    rows = table_rows(sqlite_url, app_mentions_table)
    assert len(rows) == 10
    assert all(r["x_requests"] == 1 and r["x_cost_usd"] == PRICE for r in rows)
    assert all(r["posts_consumed"] == 0 for r in rows)
    (run,) = table_rows(sqlite_url, appbuzz_runs)
    assert run["x_requests"] == 10 and run["x_cost_usd"] == 10 * PRICE == Decimal("0.05")
    assert x_env.cost(PRICE, PRICE) == run["x_cost_usd"]  # what the fake billed
    with TestClient(prepare(sqlite_url)) as client:
        (shown,) = client.get("/runs").json()
    assert Decimal(str(shown["x_cost_usd"])) == Decimal("0.05") and shown["x_requests"] == 10
    assert Decimal(str(shown["max_spend_usd"])) == Decimal("1")


def test_search_under_a_cap_of_2_50_reads_at_most_500_posts(
    x_env: FakeXApi, run_flow, sample_top_queries: list[str], sqlite_url: str
) -> None:
    for i, query in enumerate(sample_top_queries):
        x_env.totals[query] = 2_000 + 137 * i  # thousands of posts each
    state = run_flow(strategy="search", max_pages=10, max_spend_usd=Decimal("2.50"))
    assert state.is_completed(), state.message
    assert x_env.billed_posts <= 500  # what 2.50 USD buys at 0.005 a post
    rows = {r["mention_query"]: r for r in table_rows(sqlite_url, app_mentions_table)}
    assert len(rows) == 10
    for query, row in rows.items():
        served = [r for r in x_env.requests_for(query) if r.status == 200]
        assert row["posts_consumed"] == 100 * len(served) == (row["n_citacoes"] or 0)
        assert row["x_cost_usd"] == row["posts_consumed"] * PRICE  # exactly
        if served:  # pages remained: stopped by the cap, the reason on the row
            assert row["mention_status"] == "capped" and "spend cap of 2.50 USD" in (
                row["mention_error"] or ""
            )
        else:
            assert row["mention_status"] == "skipped" and row["n_citacoes"] is None
            assert "not counted: the run's spend cap of 2.50 USD is reached" in row["mention_error"]
    assert all(r.path == SEARCH for r in x_env.requests)
    (run,) = table_rows(sqlite_url, appbuzz_runs)
    assert (
        run["posts_consumed"]
        == x_env.billed_posts
        == sum(r["posts_consumed"] for r in rows.values())
    )
    assert run["x_cost_usd"] == x_env.billed_posts * PRICE == x_env.cost(PRICE, PRICE)
    assert run["max_spend_usd"] == Decimal("2.50")
    assert run["mentions_capped"] + run["mentions_skipped"] == 10


def test_a_database_made_by_the_previous_version_gains_the_spend_columns(database_url: str) -> None:
    old = MetaData()
    for name in ("app_mentions", "appbuzz_runs"):
        current = metadata.tables[name]
        Table(name, old, *(Column(c.name, c.type, primary_key=c.primary_key)
                           for c in current.columns if c.name not in ADDED[name]))  # fmt: skip
    engine = create_engine(database_url)
    old.create_all(engine)
    engine.dispose()
    engine = make_engine(database_url)
    try:
        check_database(engine)
        check_database(engine)  # a second time finds nothing to add
        columns = {n: {c["name"] for c in inspect(engine).get_columns(n)} for n in ADDED}
    finally:
        engine.dispose()
    for name, added in ADDED.items():
        assert added <= columns[name]
