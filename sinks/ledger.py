"""The ledger of counts (`mention_ledger`): written as X answers, read before X is asked.

Rows are upserted on (snapshot_date, selection, app_id): the newest count of an app for a night
is the one kept (a failure replaced by the retry's count, a `--recount` replacing the count).
Same statements on SQLite and PostgreSQL (both have `INSERT ... ON CONFLICT DO UPDATE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import Connection, inspect, select
from sqlalchemy.dialects import postgresql, sqlite

from sinks.tables import mention_ledger
from transforms.enrichment import LEDGER_SCHEMA
from transforms.mentions import RESULT_SCHEMA

_KEY = ("snapshot_date", "selection", "app_id", "strategy")


def record_counts(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Upsert ledger rows (`transforms.enrichment.NightCounts.ledger_rows`)."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(mention_ledger)
    updated = {c.name: statement.excluded[c.name] for c in mention_ledger.c if c.name not in _KEY}
    connection.execute(
        statement.on_conflict_do_update(index_elements=list(_KEY), set_=updated), list(rows)
    )


def _night(snapshot_date: date, selection: str) -> Any:
    return (mention_ledger.c.snapshot_date == snapshot_date) & (
        mention_ledger.c.selection == selection
    )


def night_ledger(connection: Connection, snapshot_date: date, selection: str) -> pl.DataFrame:
    """Everything the ledger holds for a night and selection (`LEDGER_SCHEMA`); empty when the
    table does not exist yet (a dry run on a new database creates nothing)."""
    if not inspect(connection).has_table(mention_ledger.name):
        return pl.DataFrame(schema=LEDGER_SCHEMA)
    query = select(*(mention_ledger.c[name] for name in LEDGER_SCHEMA)).where(
        _night(snapshot_date, selection)
    )
    return _frame(connection, query, LEDGER_SCHEMA)


def night_counts(
    connection: Connection,
    snapshot_date: date,
    selection: str,
    strategy: str,
    app_ids: Sequence[int],
) -> pl.DataFrame:
    """The ledger's counts of these apps for the night, by `strategy`: `id`, the query, the
    result columns."""
    query = select(
        mention_ledger.c.app_id.label("id"),
        mention_ledger.c.mention_query,
        *(mention_ledger.c[name] for name in RESULT_SCHEMA),
    ).where(
        _night(snapshot_date, selection)
        & (mention_ledger.c.strategy == strategy)
        & mention_ledger.c.app_id.in_(list(app_ids))
    )
    schema = {"id": pl.Int64(), "mention_query": pl.String(), **RESULT_SCHEMA}
    return _frame(connection, query, schema)


def _frame(connection: Connection, query: Any, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows as a typed frame; SQLite's zone-less times are read as the UTC they were written in."""
    rows = [dict(row._mapping) for row in connection.execute(query)]
    return pl.DataFrame(rows, schema=dict(schema), orient="row")
