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
) -> list[dict[str, Any]]:
    """One snapshot of `selection` in rank order: the newest (the view) or that of a date."""
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
    return [dict(row._mapping) for row in connection.execute(query)]


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
