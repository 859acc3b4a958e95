"""Mentions per day from the first night: X's day buckets kept as the fake served them (partial
days marked, never shown as whole), a month backfilled from the full archive (one request per
app, its plan first, nothing stored without archive access), and the next night's spike judged
on those days. As a person runs it: `appbuzz run`, `appbuzz backfill`, `appbuzz serve`."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sinks.tables import app_mention_days, appbuzz_runs, mention_ledger
from tests.fake_x_api import ARCHIVE, COUNTS, FakeXApi
from tests.support.catalogues import top_apps
from tests.support.postgres import table_rows
from tests.support.serve import serving
from transforms.queries import build_query

TODAY = datetime.now(UTC).date()


def per_day(url: str, app_id: int) -> dict[date, dict[str, Any]]:
    return {r["day"]: r for r in table_rows(url, app_mention_days) if r["app_id"] == app_id}


@pytest.fixture
def top(catalogue_csv: Path) -> list[dict[str, Any]]:
    """The catalogue's top 10 with the query appbuzz asks for each."""
    return [
        {**row, "query": build_query(row["track_name"])}
        for row in top_apps(catalogue_csv).iter_rows(named=True)
    ]


def test_a_first_night_keeps_x_s_day_buckets_and_marks_the_partial_ones(
    run_cli, cli_x_env, fake_x_api: FakeXApi, catalogue_csv: Path, sqlite_url: str, top, tmp_path
) -> None:
    done = run_cli("run", "--csv", str(catalogue_csv), "--database-url", sqlite_url,
                   "--out", "out", env=cli_x_env())  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    with serving(sqlite_url, tmp_path / "serve.log") as server:
        for app in top:
            served = fake_x_api.days_served(app["query"])
            whole = {d: n for d, (n, is_whole) in served.items() if is_whole}
            assert len(whole) == 6  # a 7-day window: 6 whole days between two partial ones
            days = httpx.get(f"{server.base_url}/apps/{app['id']}/days").json()
            shown_whole = {date.fromisoformat(d["day"]): d["mentions"] for d in days if d["whole"]}
            assert shown_whole == whole, app["track_name"]
            partial = [d for d in days if not d["whole"]]
            assert [date.fromisoformat(d["day"]) for d in partial] == [
                d for d, (_, is_whole) in sorted(served.items()) if not is_whole
            ]
            assert {d["source"] for d in days} == {"recent"}
            # the app's page draws the same days: six solid bars, the partial ones outlined
            page = httpx.get(f"{server.base_url}/apps/{app['id']}").text
            wide = page.split('class="chart days narrow"')[0]
            assert len(re.findall(r'<rect class="bar"', wide)) == 6
            assert len(re.findall(r'<rect class="bar partial"', wide)) == len(partial)
            assert len(re.findall(r'data-whole="true"', page)) == 6
        since = (TODAY - timedelta(days=2)).isoformat()
        recent = httpx.get(f"{server.base_url}/apps/{top[0]['id']}/days", params={"since": since})
        assert [d["day"] >= since for d in recent.json()] == [True] * len(recent.json())
        assert httpx.get(f"{server.base_url}/apps/1/days").status_code == 404


def test_a_month_backfilled_in_one_request_per_app_feeds_the_next_night_s_spike(
    run_cli, cli_x_env, fake_x_api: FakeXApi, catalogue_csv: Path, sqlite_url: str, top, tmp_path
) -> None:
    yesterday = TODAY - timedelta(days=1)
    spiking = top[3]
    fake_x_api.spike_day(spiking["query"], yesterday, 6.0)
    common = ["--csv", str(catalogue_csv), "--database-url", sqlite_url]

    plan = run_cli("backfill", "--days", "30", "--dry-run", *common, env=cli_x_env())
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "a backfill of the 30 days before the night" in plan.stdout
    assert "requests: 10; worst-case posts: 0; worst-case cost: 0.10 USD" in plan.stdout
    assert fake_x_api.requests == [] and not Path(sqlite_url.removeprefix("sqlite:///")).exists()

    backfill = run_cli("backfill", "--days", "30", *common, env=cli_x_env())
    assert backfill.returncode == 0, backfill.stderr[-2000:]
    archive = [r for r in fake_x_api.requests if r.path == ARCHIVE]
    assert len(archive) == len(fake_x_api.requests) == 10  # one request per app: 30 <= 31 days
    assert sorted(r.query for r in archive) == sorted(app["query"] for app in top)
    first = TODAY - timedelta(days=30)
    for app in top:
        days = per_day(sqlite_url, app["id"])
        assert sorted(days) == [first + timedelta(days=n) for n in range(30)]
        assert all(d["whole"] and d["source"] == "all" for d in days.values())
        assert all(d["mentions"] == fake_x_api.level(app["query"], day) for day, d in days.items())
    assert "300 whole days stored" in backfill.stdout and "0.10 USD" in backfill.stdout

    fake_x_api.reset_records()
    night = run_cli("run", *common, "--out", "out", env=cli_x_env())
    assert night.returncode == 0, night.stderr[-2000:]
    assert [r.path for r in fake_x_api.requests] == [COUNTS] * 10
    assert f"spike: {spiking['track_name']} (" in night.stdout
    with serving(sqlite_url, tmp_path / "serve.log") as server:
        rows = httpx.get(f"{server.base_url}/apps.json").json()
        assert [r["id"] for r in rows if r["spike"]] == [spiking["id"]]
        page = httpx.get(f"{server.base_url}/").text
    # judged against the same weekday of the weeks the backfill brought
    assert "usual" in page and spiking["track_name"] in page
    days = per_day(sqlite_url, spiking["id"])
    assert days[yesterday]["source"] == "recent" and days[first]["source"] == "all"


def test_without_archive_access_a_backfill_fails_in_one_line_and_stores_nothing(
    run_cli, cli_x_env, fake_x_api: FakeXApi, catalogue_csv: Path, sqlite_url: str
) -> None:
    fake_x_api.archive_access = False
    done = run_cli("backfill", "--days", "30", "--csv", str(catalogue_csv),
                   "--database-url", sqlite_url, env=cli_x_env())  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "appbuzz: the X API account has no access to the full-archive counts (403 "
        "client-not-enrolled): a backfill needs pay-per-use or Enterprise access to GET "
        "/2/tweets/counts/all; nothing was stored"
    ]
    assert len(fake_x_api.requests) == 1  # the first request probes alone: one refusal
    for table in (app_mention_days, mention_ledger, appbuzz_runs):
        assert table_rows(sqlite_url, table) == []
