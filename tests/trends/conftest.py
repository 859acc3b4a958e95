"""Fifteen nights loaded by real runs (`appbuzz run` against the fake X API and the session's
Prefect server) into a PostgreSQL database, and `appbuzz serve` over them.

Counts vary by day (a slow wave per app); the day before the last night, one app's count
triples (a spike), and on one night one app's count fails (the fake answers 400): a gap, never a
zero. Each night runs on the fake's clock at 03:00 of its date. Session-scoped, so the trend
tests and the browser tests share one load.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import pytest

from tests.fake_x_api import FakeXApi
from tests.support.cli import Cli, Job
from tests.support.postgres import scratch_database
from tests.support.serve import serving
from tests.trends.nights import (
    FAILED_NIGHT,
    FAILED_RANK,
    FIRST_NIGHT,
    NIGHTS,
    SPIKE_DAY,
    TRIPLED_RANK,
    Nights,
    planned_count,
    top_ten,
)


@pytest.fixture(scope="session")
def nights_db(postgres_server: str) -> Iterator[str]:
    with scratch_database(postgres_server, prefix="appbuzz_trends") as url:
        yield url


@pytest.fixture(scope="session")
def fifteen_nights(nights_db: str, cli: Cli, prefect_server, tmp_path_factory) -> Iterator[Nights]:
    work = tmp_path_factory.mktemp("nights")
    apps = top_ten()
    started = datetime.now(UTC)
    lines: dict[date, str] = {}
    with FakeXApi() as fake:
        env = {
            "X_BEARER_TOKEN": fake.token,
            "X_API_BASE_URL": fake.base_url,
            "APPBUZZ_RESULTS_DIR": str(work / "results"),
            "APPBUZZ_X_MAX_RETRIES": "0",
        }
        for row in apps.iter_rows(named=True):
            fake.daily[row["query"]] = partial(planned_count, row["rank"] - 1)
        for night in range(NIGHTS):
            day = FIRST_NIGHT + timedelta(days=night)
            at = datetime.combine(day, time(3), UTC)
            fake.clock = lambda at=at: at
            if night == NIGHTS - 1:
                fake.spike_day(apps.row(TRIPLED_RANK - 1, named=True)["query"], SPIKE_DAY, 3.0)
            if day == FAILED_NIGHT:
                fake.script(
                    "status", status=400, query=apps.row(FAILED_RANK - 1, named=True)["query"]
                )
            args = ["run", "--database-url", nights_db, "--out", str(work / day.isoformat()),
                    "--snapshot-date", day.isoformat(), "--no-catalogue"]  # fmt: skip
            done = cli.run(Job(work, args, env), timeout=300)
            assert done.returncode == 0, done.stderr
            lines[day] = done.stdout.strip().splitlines()[-1]
    yield Nights(nights_db, work, apps, lines, started, prefect_server.api_url)


@pytest.fixture(scope="session")
def nights_served(fifteen_nights: Nights, tmp_path_factory) -> Iterator[str]:
    """`appbuzz serve` over the fifteen nights, on a free loopback port; yields its base URL."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(fifteen_nights.database_url, log) as server:
        yield server.base_url
