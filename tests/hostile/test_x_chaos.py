"""The X API misbehaving at random over a run of 100 apps, through the CLI, on PostgreSQL.

A seeded mix per app: 429s, 5xx, timeouts (replies slower than the client waits), slow replies in
time, dropped connections, malformed JSON, a refused query, and some apps left alone; plus a
small real rate-limit window that the run has to pace itself through. Whatever happens, every app
ends with a final status (`ok` with the service's exact count, or `failed` with a reason), none is
lost or duplicated, and the run record's numbers are the rows' numbers and the fake's.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from sinks.tables import app_mentions, appbuzz_runs
from tests.fake_x_api import FakeXApi
from tests.hostile.tools import ranked_apps, table_state
from tests.support.cli import Cli, Job
from tests.support.polling import wait_for

SEED = 20261128
TOP_N = 100
MAX_RETRIES = 3
TIMEOUT = 0.5

# (what the fake does to one app's requests, in order) -> the app's final status
SCENARIOS: dict[str, tuple[list[dict], str]] = {
    "untouched": ([], "ok"),
    "slow_in_time": ([{"kind": "slow", "seconds": 0.2}], "ok"),
    "one_5xx": ([{"kind": "status", "status": 503}], "ok"),
    "5xx_mix": (
        [{"kind": "status", "status": 500}, {"kind": "status", "status": 502},
         {"kind": "status", "status": 504}],
        "ok",
    ),
    "timeout_then_ok": ([{"kind": "slow", "seconds": TIMEOUT * 2.5}], "ok"),
    "dropped_then_ok": ([{"kind": "drop"}, {"kind": "malformed"}], "ok"),
    "429_once": ([{"kind": "status", "status": 429}], "ok"),
    "mixed_within_retries": (
        [{"kind": "status", "status": 429}, {"kind": "slow", "seconds": TIMEOUT * 2.5},
         {"kind": "status", "status": 503}, {"kind": "drop"}],
        "ok",
    ),
    "5xx_past_retries": ([{"kind": "status", "status": 503, "times": MAX_RETRIES + 1}], "failed"),
    "timeouts_past_retries": (
        [{"kind": "slow", "seconds": TIMEOUT * 2.5, "times": MAX_RETRIES + 1}], "failed",
    ),
    "query_refused_400": ([{"kind": "status", "status": 400}], "failed"),
}  # fmt: skip
COLUMNS = [c.name for c in app_mentions.columns]
RUN_COLUMNS = [c.name for c in appbuzz_runs.columns]
# a 429 holds back every request to the endpoint until the window resets (about a second here)
WEIGHTS = {"untouched": 30, "429_once": 1, "mixed_within_retries": 2, "query_refused_400": 2}


def script_chaos(fake: FakeXApi, queries: list[str]) -> dict[str, str]:
    """A seeded scenario per query; returns the status each query must end with."""
    rng = random.Random(SEED)
    names = list(SCENARIOS)
    weights = [WEIGHTS.get(name, 6) for name in names]
    expected = {}
    for query in queries:
        scenario = rng.choices(names, weights)[0]
        faults, status = SCENARIOS[scenario]
        for fault in faults:
            options = {k: v for k, v in fault.items() if k != "kind"}
            fake.script(fault["kind"], query=query, **options)
        expected[query] = status
    return expected


@pytest.mark.timeout(240)
def test_chaos_over_100_apps_every_app_ends_counted_or_failed_and_the_record_adds_up(
    cli: Cli,
    cli_x_env,
    fake_x_api: FakeXApi,
    postgres_url: str,
    catalogue_csv: Path,
    tmp_path: Path,
) -> None:
    apps = ranked_apps(catalogue_csv, TOP_N)
    assert apps.height == TOP_N
    queries = apps["mention_query"].to_list()
    assert len(set(queries)) == TOP_N  # one query per app: each app's trouble is its own
    expected = script_chaos(fake_x_api, queries)
    assert set(expected.values()) == {"ok", "failed"}
    fake_x_api.set_rate_limit(80, window_seconds=1.0)  # 200-odd requests: several windows
    env = cli_x_env(APPBUZZ_X_TIMEOUT_SECONDS=str(TIMEOUT), APPBUZZ_X_MAX_RETRIES=str(MAX_RETRIES))
    done = cli.run(Job(tmp_path, ["run", "--csv", str(catalogue_csv), "--top-n", str(TOP_N),
                                  "--database-url", postgres_url, "--out", "out",
                                  "--snapshot-date", "2026-11-06"], env))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    tables = table_state(postgres_url)
    rows = pl.DataFrame(
        [dict(zip(COLUMNS, r, strict=True)) for r in tables["app_mentions"]], orient="row"
    )
    # none lost, none duplicated: exactly the 100 ranked apps, once each, in rank order
    assert rows["app_id"].to_list() == apps["id"].to_list()
    assert rows["rank"].to_list() == list(range(1, TOP_N + 1))
    assert rows["mention_query"].to_list() == queries
    # every app has a final status, the one its scenario calls for
    assert rows["mention_status"].to_list() == [expected[q] for q in queries]
    for row in rows.iter_rows(named=True):
        if row["mention_status"] == "ok":
            assert row["n_citacoes"] == fake_x_api.total_for(row["mention_query"])
            assert row["mention_error"] is None
        else:
            assert row["n_citacoes"] is None and row["mention_error"]
    # the record adds up: its counts are the rows', its requests are what the fake received
    (record,) = [dict(zip(RUN_COLUMNS, r, strict=True)) for r in tables["appbuzz_runs"]]
    statuses = Counter(rows["mention_status"])
    assert (record["mentions_ok"], record["mentions_failed"]) == (
        statuses["ok"],
        statuses["failed"],
    )
    assert record["mentions_capped"] == record["mentions_skipped"] == 0
    assert record["x_requests"] == rows["x_requests"].sum()
    wait_for(lambda: len(fake_x_api.requests) == record["x_requests"], timeout=10,
             what="the fake to record every request it received")  # fmt: skip
    assert Counter(r.status for r in fake_x_api.requests)[429] >= 2  # the chaos did happen
    assert {r.status for r in fake_x_api.requests} >= {200, 400, 429, 500, 502, 503, 504, None}
    files = pl.read_json(tmp_path / "out" / "apps.json")
    assert (
        files.select("id", "mention_status").rows()
        == rows.select("app_id", "mention_status").rows()
    )
