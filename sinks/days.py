"""Mentions per day (`app_mention_days`): written with each count, read for charts and spikes.

The upsert keeps the rule of the table in the database itself: a whole day replaces what is
stored for it, a partial day replaces only a partial one, so no order of writes, retries or
backfills can put a partial count where a whole one was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from sinks.tables import app_mention_days

_KEY = ("selection", "app_id", "day")
DAYS_SCHEMA: dict[str, pl.DataType] = {
    "app_id": pl.Int64(),
    "day": pl.Date(),
    "mentions": pl.Int64(),
    "whole": pl.Boolean(),
    "source": pl.String(),
}


def record_days(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert day rows (`transforms.enrichment.NightCounts.day_rows`)."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(app_mention_days)
    new = statement.excluded
    updated = {c.name: new[c.name] for c in app_mention_days.c if c.name not in _KEY}
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=list(_KEY),
            set_=updated,
            where=new.whole | ~app_mention_days.c.whole,
        ),
        list(rows),
    )


def days_of(
    connection: Connection,
    selection: str,
    app_ids: Sequence[int] | None = None,
    since: date | None = None,
    until: date | None = None,
) -> pl.DataFrame:
    """Stored days of `selection` (of these apps, from `since`, to `until` included), oldest
    first per app (`DAYS_SCHEMA`); empty before the table exists."""
    if not inspect(connection).has_table(app_mention_days.name):
        return pl.DataFrame(schema=DAYS_SCHEMA)
    t = app_mention_days
    query = select(*(t.c[name] for name in DAYS_SCHEMA)).where(t.c.selection == selection)
    if app_ids is not None:
        query = query.where(t.c.app_id.in_(list(app_ids)))
    if since is not None:
        query = query.where(t.c.day >= since)
    if until is not None:
        query = query.where(t.c.day <= until)
    rows = [dict(row._mapping) for row in connection.execute(query.order_by(t.c.app_id, t.c.day))]
    return pl.DataFrame(rows, schema=DAYS_SCHEMA, orient="row")
