"""`appbuzz run` as a person runs it, against the fake X API and a real Prefect server: a spent
account stops the run at once and a retry asks only for the rest; a dry run sends and writes
nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinks.tables import app_mentions, appbuzz_runs
from tests.fake_x_api import COUNTS, SEARCH, FakeXApi
from tests.support.catalogues import top_apps
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.support.prefect import PrefectApi

MONTHLY = (
    "appbuzz: the X API account's Monthly usage cap is spent (429 Usage cap exceeded: Monthly "
    "product cap): no request can succeed until the monthly cap resets or is raised; a retry "
    "then counts the apps left"
)


CREDITS = (
    "appbuzz: the X API account's credits are exhausted (402 Payment Required): no request can "
    "succeed until credits are bought; a retry then counts the apps left"
)


@pytest.mark.parametrize(("status", "line"), [(429, MONTHLY), (402, CREDITS)])
def test_a_spent_account_stops_the_run_at_once_and_the_retry_asks_for_the_rest(
    run_cli, cli_x_env, fake_x_api: FakeXApi, tmp_path: Path, status: int, line: str
) -> None:
    # a rate limit would be waited for (10 minutes): a spent account must not be
    fake_x_api.set_rate_limit(300, window_seconds=600)
    fake_x_api.cap_after, fake_x_api.cap_status = 4, status
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    # one request at a time, so "nothing after the refusal" is exact, not a race
    env = cli_x_env(APPBUZZ_X_MAX_CONCURRENCY="1")
    result = run_cli("run", "--database-url", db, "--out", "out", env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [line]
    assert "appbuzz: 4/10 apps done, 4 requests, 0.02 USD" in result.stdout.splitlines()
    assert fake_x_api.statuses() == [200, 200, 200, 200, status]  # nothing after the refusal
    stored = {r["mention_query"]: r for r in table_rows(db, app_mentions)}
    counted = [r for r in stored.values() if r["mention_status"] == "ok"]
    assert len(stored) == 10 and len(counted) == 4
    answered = [r.query for r in fake_x_api.requests if r.status == 200]
    assert sorted(r["mention_query"] for r in counted) == sorted(answered)
    assert all(r["n_citacoes"] == fake_x_api.total_for(r["mention_query"]) for r in counted)
    others = [r for r in stored.values() if r["mention_status"] != "ok"]
    assert all(r["mention_status"] == "failed" and r["n_citacoes"] is None for r in others)
    assert {r["mention_error"] for r in others} == {line.removeprefix("appbuzz: ")}
    (run,) = table_rows(db, appbuzz_runs)
    assert run["status"] == "failed" and run["message"] == line.removeprefix("appbuzz: ")
    assert run["x_requests"] == 4 and (tmp_path / "out" / "apps.csv").exists()

    fake_x_api.lift_cap()
    fake_x_api.reset_records()
    retry = run_cli("run", "--database-url", db, "--out", "out", env=env)
    assert retry.returncode == 0, retry.stderr[-3000:]
    asked = sorted(r.query for r in fake_x_api.requests)
    assert asked == sorted(r["mention_query"] for r in others)  # only the apps left
    after = table_rows(db, app_mentions)
    assert len(after) == 10 and all(r["mention_status"] == "ok" for r in after)


def _bytes_of(*folders: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_a_dry_run_prints_the_plan_and_sends_and_writes_nothing(
    run_cli, cli_x_env, fake_x_api: FakeXApi, tmp_path: Path, catalogue_csv: Path
) -> None:
    db_dir = tmp_path / "db"
    db = f"sqlite:///{db_dir / 'appbuzz.db'}"
    env = cli_x_env()
    first = run_cli("run", "--database-url", db, "--out", "out", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    before = _bytes_of(db_dir, tmp_path / "out")
    fake_x_api.reset_records()
    plans = {}
    for strategy in ("counts", "search"):
        done = run_cli(
            "run", "--csv", str(catalogue_csv), "--database-url", db, "--out", "out",
            "--strategy", strategy, "--max-pages", "10", "--dry-run", env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        plans[strategy] = done.stdout.splitlines()
    assert fake_x_api.requests == []  # nothing sent to X
    assert _bytes_of(db_dir, tmp_path / "out") == before  # nothing written
    counts, search = plans["counts"], plans["search"]
    # the catalogue's Book+Music top 10, one query line each, then the run's totals
    assert len(counts) == 1 + 10 + 2 and len(search) == 1 + 10 + 2
    for line, app in zip(counts[1:11], top_apps(catalogue_csv).iter_rows(named=True), strict=True):
        assert f"{app['track_name']} (id {app['id']})" in line
    assert counts[11] == (
        "appbuzz:   requests: 10; worst-case posts: 0; worst-case cost: 0.05 USD "
        "(within the 1.00 USD cap)"
    )
    assert search[11] == (
        "appbuzz:   requests: 100; worst-case posts: 10000; worst-case cost: 50.00 USD "
        "(beyond the 1.00 USD cap)"
    )
    assert counts[12] == (
        "appbuzz:   shortest time the rate limit allows: no wait at 300 requests/15 min; "
        "15 min on a legacy Basic plan (5/15 min)"
    )
    assert search[12] == (
        "appbuzz:   shortest time the rate limit allows: no wait at 450 requests/15 min; "
        "15 min on a legacy Basic plan (60/15 min)"
    )
    assert {COUNTS, SEARCH}.isdisjoint(r.path for r in fake_x_api.requests)


WAIT_LINE = re.compile(
    r"^appbuzz: waiting \d+:\d\d for the counts window, resets (\d\d:\d\d:\d\d) UTC$"
)


def test_a_run_held_by_a_small_window_says_what_it_waits_for(
    run_cli, cli_x_env, prefect_server, fake_x_api: FakeXApi, tmp_path: Path
) -> None:
    fake_x_api.set_rate_limit(3, window_seconds=20)  # ten apps: four windows, three waits
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = run_cli("run", "--database-url", db, "--out", "out", env=cli_x_env())
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    waits = [m.group(1) for m in map(WAIT_LINE.match, lines) if m]
    assert len(waits) >= 3 and len(set(waits)) == len(waits), lines  # one line per wait
    assert "appbuzz: 10/10 apps done, 10 requests, 0.05 USD" in lines
    assert lines[-1].startswith("appbuzz: Book+Music/top10 on ") and "X: 10 requests" in lines[-1]
    assert fake_x_api.statuses() == [200] * 10
    (run,) = table_rows(db, appbuzz_runs)

    def recorded() -> dict | None:
        records = PrefectApi(prefect_server.api_url).records(run["flow_run_id"])
        logged = [log["message"] for log in records["logs"] if "waiting" in log["message"]]
        return {**records, "waits": logged} if len(logged) >= len(waits) else None

    records = wait_for(recorded, what="the wait lines in the flow run's log")
    (progress,) = [a for a in records["artifacts"] if a["type"] == "progress"]
    assert progress["data"] == 100.0 and progress["key"] == "app-mentions-progress"
    assert all(WAIT_LINE.match(f"appbuzz: {message}") for message in records["waits"])
