"""The API's questions to the database, in SQLAlchemy Core over the tables in `sinks.tables`.

A table or view that does not exist yet (nothing loaded so far) reads as empty, never as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Column, Connection, Table, func, inspect, select

from sinks.files import OUTPUT_COLUMNS
from sinks.tables import app_mentions, app_mentions_latest, appbuzz_runs
from sinks.trends import Trend, trend_columns, trends
from transforms.defaults import DEFAULT_GENRES, DEFAULT_TOP_N
from transforms.ranking import selection_name
from transforms.trends import SpikeRule

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


def counts_by_app(
    connection: Connection, selection: str, dates: Sequence[date], app_ids: Sequence[int]
) -> dict[int, dict[date, int | None]]:
    """Each app's count on each of `dates` (absent: the app had no row that night)."""
    query = select(app_mentions.c.app_id, app_mentions.c.snapshot_date, app_mentions.c.n_citacoes)
    query = query.where(
        (app_mentions.c.selection == selection)
        & app_mentions.c.snapshot_date.in_(dates)
        & app_mentions.c.app_id.in_(app_ids)
    )
    found: dict[int, dict[date, int | None]] = {app_id: {} for app_id in app_ids}
    for app_id, snapshot_date, count in connection.execute(query):
        found[app_id][snapshot_date] = count
    return found


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
