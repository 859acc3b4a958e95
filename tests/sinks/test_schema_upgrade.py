"""A database made by an older appbuzz, upgraded in place by the next run's first connection:
its rows kept, the columns added since added, the ledger's key widened to hold a night's counts
of two strategies, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
    inspect,
)

from sinks.database import Database
from sinks.tables import mention_ledger
from tests.support.postgres import table_rows

NIGHT = date(2026, 11, 20)


def old_ledger(metadata: MetaData) -> Table:
    """`mention_ledger` as the first ledger made it: keyed by night, selection and app only, and
    without `max_pages` (standing in for any column added since)."""
    return Table(
        "mention_ledger",
        metadata,
        Column("snapshot_date", Date, primary_key=True),
        Column("selection", String, primary_key=True),
        Column("app_id", BigInteger, primary_key=True),
        Column("mention_query", String),
        Column("strategy", String(16), nullable=False),
        Column("n_citacoes", BigInteger),
        Column("mention_status", String(16), nullable=False),
        Column("mention_error", String),
        Column("window_start", DateTime(timezone=True)),
        Column("window_end", DateTime(timezone=True)),
        Column("x_requests", Integer, nullable=False),
        Column("posts_consumed", BigInteger, nullable=False),
        Column("x_cost_usd", Numeric(14, 6), nullable=False),
        Column("settled", Boolean, nullable=False),
        Column("run_id", String(36), nullable=False),
        Column("counted_at", DateTime(timezone=True), nullable=False),
    )


def counted(strategy: str, n: int) -> dict:
    return {
        "snapshot_date": NIGHT,
        "selection": "Book+Music/top10",
        "app_id": 7,
        "mention_query": '"Echo" -is:retweet',
        "strategy": strategy,
        "n_citacoes": n,
        "mention_status": "ok",
        "x_requests": 1,
        "posts_consumed": 0,
        "x_cost_usd": Decimal("0.005"),
        "settled": True,
        "run_id": "r-old",
        "counted_at": datetime(2026, 11, 20, 3, tzinfo=UTC),
    }


def test_an_older_ledger_is_upgraded_in_place_and_keeps_its_counts(database_url: str) -> None:
    engine = create_engine(database_url)
    old = MetaData()
    old_ledger(old)
    with engine.begin() as connection:
        old.create_all(connection)
        connection.execute(insert(old.tables["mention_ledger"]), [counted("counts", 42)])
    engine.dispose()

    with Database.open(database_url) as database:
        database.check()  # what a run does first
        database.check()  # and the next run: nothing left to change
        database.record_counts([{**counted("all", 40), "max_pages": 3}])

    engine = create_engine(database_url)
    key = inspect(engine).get_pk_constraint("mention_ledger")["constrained_columns"]
    engine.dispose()
    assert set(key) == {c.name for c in mention_ledger.primary_key.columns}
    rows = table_rows(database_url, mention_ledger, mention_ledger.c.strategy)
    assert [(r["strategy"], r["n_citacoes"], r["max_pages"]) for r in rows] == [
        ("all", 40, 3),
        ("counts", 42, None),  # the old row kept; the column added since is null on it
    ]
