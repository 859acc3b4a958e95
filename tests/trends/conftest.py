"""Fifteen nights loaded by real runs (`appbuzz run` against the fake X API and the session's
Prefect server) into a PostgreSQL database, and `appbuzz serve` over them.

Counts vary by night (a slow wave per app); on the last night one app's count triples, and on
one night one app's count fails (the fake answers 400): a gap, never a zero. Session-scoped, so
the trend tests and the browser tests share one load.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import polars as pl
import pytest
from sqlalchemy import create_engine, make_url, text

from bench.services import free_port
from sources.catalogue import SAMPLE_CATALOGUE
from tests.fake_x_api import FakeXApi
from tests.support.polling import wait_for
from transforms.queries import build_query

FIRST_NIGHT = date(2026, 11, 1)
NIGHTS = 15
SELECTION = "Book+Music/top10"
TRIPLED_RANK = 3  # the app whose count triples on the last night
FAILED_RANK = 6  # the app whose count fails on FAILED_NIGHT
FAILED_NIGHT = FIRST_NIGHT + timedelta(days=8)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("APPBUZZ_", "X_", "TWITTER_"))}
    return {**keep, **extra}


def top_ten() -> pl.DataFrame:
    """The sample's top 10 of Book and Music by ratings (ties to the smaller id), with queries."""
    catalogue = pl.read_csv(SAMPLE_CATALOGUE)
    top = (
        catalogue.filter(pl.col("prime_genre").is_in(["Book", "Music"]))
        .sort(["rating_count_tot", "id"], descending=[True, False])
        .head(10)
        .with_row_index("rank", offset=1)
    )
    return top.with_columns(
        query=pl.col("track_name").map_elements(build_query, return_dtype=pl.String)
    )


def planned_count(index: int, night: int) -> int:
    """App `index` (0-based rank) on night `night`: a base of its own and a slow wave."""
    base = 40 + 37 * index
    return round(base * (1 + 0.08 * math.sin(1.7 * night + index)))


@dataclass(frozen=True)
class Nights:
    database_url: str
    out: Path  # one folder per night, named by its date
    apps: pl.DataFrame  # rank, id, track_name, query
    closing_lines: dict[date, str]  # each run's last stdout line
    started: datetime  # before the first run (for reading Prefect events back)
    prefect_api_url: str

    @property
    def nights(self) -> list[date]:
        return [FIRST_NIGHT + timedelta(days=i) for i in range(NIGHTS)]

    @property
    def last(self) -> date:
        return self.nights[-1]

    def app_at(self, rank: int) -> dict:
        return self.apps.filter(pl.col("rank") == rank).row(0, named=True)


@pytest.fixture(scope="session")
def nights_db(postgres_server: str) -> Iterator[str]:
    name = f"appbuzz_trends_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def fifteen_nights(nights_db: str, prefect_server, tmp_path_factory) -> Iterator[Nights]:
    work = tmp_path_factory.mktemp("nights")
    apps = top_ten()
    started = datetime.now(UTC)
    lines: dict[date, str] = {}
    with FakeXApi() as fake:
        env = {
            **prefect_server.env(),
            "X_BEARER_TOKEN": fake.token,
            "X_API_BASE_URL": fake.base_url,
            "APPBUZZ_RESULTS_DIR": str(work / "results"),
            "APPBUZZ_X_MAX_RETRIES": "0",
        }
        for night in range(NIGHTS):
            day = FIRST_NIGHT + timedelta(days=night)
            for row in apps.iter_rows(named=True):
                count = planned_count(row["rank"] - 1, night)
                if row["rank"] == TRIPLED_RANK and night == NIGHTS - 1:
                    count = 3 * planned_count(row["rank"] - 1, night - 1)
                fake.totals[row["query"]] = count
            if day == FAILED_NIGHT:
                fake.script(
                    "status", status=400, query=apps.row(FAILED_RANK - 1, named=True)["query"]
                )
            done = subprocess.run(
                [sys.executable, "-m", "flows.cli", "run", "--database-url", nights_db,
                 "--out", str(work / day.isoformat()), "--snapshot-date", day.isoformat(),
                 "--no-catalogue"],
                cwd=work, env=_clean_env(env), capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            lines[day] = done.stdout.strip().splitlines()[-1]
    yield Nights(nights_db, work, apps, lines, started, prefect_server.api_url)


@pytest.fixture(scope="session")
def nights_served(fifteen_nights: Nights, tmp_path_factory) -> Iterator[str]:
    """`appbuzz serve` over the fifteen nights, on a free loopback port; yields its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "serve", "--port", str(port),
             "--database-url", fifteen_nights.database_url],
            env=_clean_env({}), stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert server.poll() is None, log.read_text()
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(healthy, timeout=60, what="appbuzz serve to answer")
            yield base_url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
