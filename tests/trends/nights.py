"""The fifteen nights the trend tests share: what each night's fake X API answers, and the
loaded result (`Nights`) the tests read. Loaded by the fixtures in tests/trends/conftest.py.

Each night runs at 03:00 UTC of its own date on the fake's clock, so its counts/recent reply
covers the week before it: the days table then holds every day from a week before the first
night on. Each app has a level per day (a slow wave); on the day before the last night, one
app's count triples: the last night's spike. On one night one app's count fails (a 400)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Executable, create_engine, select

from sinks.tables import app_mention_days
from sinks.trends import Trend, trends
from sources.catalogue import SAMPLE_CATALOGUE
from tests.support.catalogues import top_apps
from tests.support.postgres import query_rows
from transforms.day_spikes import SpikeRule
from transforms.queries import build_query

FIRST_NIGHT = date(2026, 11, 1)
NIGHTS = 15
SELECTION = "Book+Music/top10"
TRIPLED_RANK = 3  # the app whose count triples on the last night
FAILED_RANK = 6  # the app whose count fails on FAILED_NIGHT
FAILED_NIGHT = FIRST_NIGHT + timedelta(days=8)


def top_ten() -> pl.DataFrame:
    """The sample's top 10 of Book and Music, ranked, with their X queries."""
    return (
        top_apps(SAMPLE_CATALOGUE)
        .with_row_index("rank", offset=1)
        .with_columns(query=pl.col("track_name").map_elements(build_query, return_dtype=pl.String))
    )


def planned_count(index: int, day: date) -> int:
    """App `index` (0-based rank) on `day`: a base of its own and a slow wave."""
    base = 40 + 37 * index
    return round(base * (1 + 0.08 * math.sin(1.7 * day.toordinal() + index)))


SPIKE_DAY = FIRST_NIGHT + timedelta(days=NIGHTS - 2)  # the last night's last whole day


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

    def rows(self, query: Executable) -> list[dict[str, Any]]:
        """What `query` reads from the nights' database."""
        return query_rows(self.database_url, query)

    def days(self, app_id: int) -> list[dict[str, Any]]:
        """The app's stored days, oldest first."""
        t = app_mention_days
        query = select(t).where((t.c.app_id == app_id) & (t.c.selection == SELECTION))
        return self.rows(query.order_by(t.c.day))

    def trends(self, snapshot_date: date | None = None, app_id: int | None = None) -> list[Trend]:
        """The selection's trend figures as sinks/trends.py computes them, on PostgreSQL."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as connection:
                return trends(connection, SELECTION, SpikeRule(), snapshot_date, app_id)
        finally:
            engine.dispose()
