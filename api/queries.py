"""The API's questions to the database, in SQLAlchemy Core over the tables in `sinks.tables`.

A table or view that does not exist yet (nothing loaded so far) reads as empty, never as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Column, Connection, Table, func, inspect, select

from sinks.days import days_of
from sinks.files import OUTPUT_COLUMNS
from sinks.tables import app_mention_days, app_mentions, app_mentions_latest, appbuzz_runs
from sinks.trends import Trend, judged_days, trend_columns, trends
from transforms.day_spikes import SpikeRule
from transforms.defaults import DEFAULT_GENRES, DEFAULT_TOP_N
from transforms.ranking import selection_name

# The flow's default choice: what `/apps.json` serves unasked.
DEFAULT_SELECTION = selection_name(DEFAULT_GENRES, DEFAULT_TOP_N)

# The files' contract, column by column, as stored in `app_mentions` (its `app_id` is `id`).
SNAPSHOT_COLUMNS: dict[str, Column[Any]] = {
    name: app_mentions.c.app_id if name == "id" else app_mentions.c[name] for name in OUTPUT_COLUMNS
}
HISTORY_COLUMNS: dict[str, Column[Any]] = {
    name: app_mentions.c[name]
    for name in ("snapshot_date", "rank", "n_citacoes", "mention_status", "rating_count_tot")
}
RUN_COLUMNS: dict[str, Column[Any]] = {column.name: column for column in appbuzz_runs.c}


def _exists(connection: Connection, table: Table) -> bool:
    return inspect(connection).has_table(table.name)


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """SQLite keeps no time zone; the pipeline writes UTC, so say so on every backend."""
    return {
        key: value.replace(tzinfo=UTC)
        if isinstance(value, datetime) and value.tzinfo is None
        else value
        for key, value in row.items()
    }


def apps(
    connection: Connection,
    selection: str,
    snapshot_date: date | None = None,
    genres: Sequence[str] = (),
    rule: SpikeRule | None = None,
) -> list[dict[str, Any]]:
    """One snapshot of `selection` in rank order: the newest (the view) or that of a date; with
    a `rule`, each row gains the change columns after the original ones (`sinks.trends`)."""
    if snapshot_date is None:
        source = app_mentions_latest
        columns = {name: source.c[name] for name in OUTPUT_COLUMNS}
    else:
        source = app_mentions
        columns = SNAPSHOT_COLUMNS
    if not _exists(connection, source):
        return []
    query = (
        select(*(column.label(name) for name, column in columns.items()))
        .where(source.c.selection == selection)
        .order_by(columns["rank"], columns["id"])
    )
    if snapshot_date is not None:
        query = query.where(source.c.snapshot_date == snapshot_date)
    if genres:
        query = query.where(source.c.prime_genre.in_(genres))
    rows = [dict(row._mapping) for row in connection.execute(query)]
    if rule is None or not rows:
        return rows
    found = {t.app_id: t for t in trends(connection, selection, rule, rows[0]["snapshot_date"])}
    return [{**row, **trend_columns(found.get(row["id"]))} for row in rows]


def runs(connection: Connection, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of the run history, newest first, and how many runs there are in all."""
    if not _exists(connection, appbuzz_runs):
        return [], 0
    total = connection.execute(select(func.count()).select_from(appbuzz_runs)).scalar_one()
    page = connection.execute(
        select(appbuzz_runs)
        .order_by(appbuzz_runs.c.started_at.desc(), appbuzz_runs.c.run_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_utc(dict(row._mapping)) for row in page], total


def history(connection: Connection, app_id: int, selection: str) -> list[dict[str, Any]]:
    """One point per snapshot of `selection` that holds the app, oldest first: its trend."""
    if not _exists(connection, app_mentions):
        return []
    query = (
        select(*(column.label(name) for name, column in HISTORY_COLUMNS.items()))
        .where((app_mentions.c.app_id == app_id) & (app_mentions.c.selection == selection))
        .order_by(app_mentions.c.snapshot_date)
    )
    return [dict(row._mapping) for row in connection.execute(query)]


DAY_COLUMNS: dict[str, Column[Any]] = {
    name: app_mention_days.c[name] for name in ("day", "mentions", "whole", "source")
}


def days(
    connection: Connection, app_id: int, selection: str, since: date | None = None
) -> list[dict[str, Any]]:
    """The app's mentions per UTC day in `selection` (from `since`), oldest first."""
    if not _exists(connection, app_mention_days):
        return []
    t = app_mention_days
    query = (
        select(*(column.label(name) for name, column in DAY_COLUMNS.items()))
        .where((t.c.app_id == app_id) & (t.c.selection == selection))
        .order_by(t.c.day)
    )
    if since is not None:
        query = query.where(t.c.day >= since)
    return [dict(row._mapping) for row in connection.execute(query)]


def selections(connection: Connection) -> list[str]:
    """Every selection that has a snapshot, by name."""
    if not _exists(connection, app_mentions):
        return []
    query = select(app_mentions.c.selection).distinct().order_by(app_mentions.c.selection)
    return list(connection.execute(query).scalars())


def nights(connection: Connection, selection: str) -> list[date]:
    """The snapshot dates of `selection`, newest first."""
    if not _exists(connection, app_mentions):
        return []
    query = (
        select(app_mentions.c.snapshot_date)
        .where(app_mentions.c.selection == selection)
        .distinct()
        .order_by(app_mentions.c.snapshot_date.desc())
    )
    return list(connection.execute(query).scalars())


# what the dashboard shows of each app on a night, beside its trend
NIGHT_COLUMNS = (
    "app_id", "rank", "track_name", "prime_genre", "n_citacoes", "mention_status", "mention_error",
)  # fmt: skip


def night(
    connection: Connection, selection: str, snapshot_date: date, rule: SpikeRule
) -> list[dict[str, Any]]:
    """The apps of one night in rank order, each with its `Trend` under `trend`."""
    query = (
        select(*(app_mentions.c[name] for name in NIGHT_COLUMNS))
        .where(
            (app_mentions.c.selection == selection)
            & (app_mentions.c.snapshot_date == snapshot_date)
        )
        .order_by(app_mentions.c.rank, app_mentions.c.app_id)
    )
    found = {t.app_id: t for t in trends(connection, selection, rule, snapshot_date)}
    return [{**row._mapping, "trend": found.get(row.app_id)} for row in connection.execute(query)]


def whole_days_by_app(
    connection: Connection, selection: str, app_ids: Sequence[int], dates: Sequence[date]
) -> dict[int, dict[date, int]]:
    """Each app's whole-day counts on `dates` (a partial or missing day is absent)."""
    found: dict[int, dict[date, int]] = {app_id: {} for app_id in app_ids}
    if not dates or not _exists(connection, app_mention_days):
        return found
    stored = days_of(connection, selection, app_ids, min(dates), max(dates))
    for row in stored.filter(pl.col("whole")).iter_rows(named=True):
        found[row["app_id"]][row["day"]] = row["mentions"]
    return found


def app_days(
    connection: Connection, app_id: int, selection: str, rule: SpikeRule
) -> list[dict[str, Any]]:
    """The app's stored days, oldest first, each whole one with its verdict: the baseline band
    (`band_low`..`band_high`, its `median`) and `spike` (false when not judged)."""
    stored = days(connection, app_id, selection)
    if not stored:
        return []
    judged = judged_days(connection, selection, rule, [app_id], stored[0]["day"], stored[-1]["day"])
    verdicts = judged.select("day", "median", "band_low", "band_high", "spike")
    return (
        pl.DataFrame(stored)
        .join(verdicts, on="day", how="left")
        .with_columns(pl.col("spike").fill_null(False))
        .to_dicts()
    )


def app_nights(
    connection: Connection, app_id: int, selection: str, rule: SpikeRule
) -> list[dict[str, Any]]:
    """Every night of `selection` that holds the app, oldest first, each with its `Trend`."""
    points = history(connection, app_id, selection)
    found: dict[date, Trend] = {
        t.snapshot_date: t for t in trends(connection, selection, rule, app_id=app_id)
    }
    return [{**point, "trend": found.get(point["snapshot_date"])} for point in points]


def app_name(connection: Connection, app_id: int, selection: str) -> str | None:
    """The app's name on its newest night in `selection`."""
    if not _exists(connection, app_mentions):
        return None
    query = (
        select(app_mentions.c.track_name)
        .where((app_mentions.c.app_id == app_id) & (app_mentions.c.selection == selection))
        .order_by(app_mentions.c.snapshot_date.desc())
        .limit(1)
    )
    return connection.execute(query).scalar_one_or_none()
