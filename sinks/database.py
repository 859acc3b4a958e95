"""Loading snapshots into the database: one transaction per snapshot, same code on every backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from sinks.tables import app_mentions, appbuzz_runs, metadata


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or used; the message is one line and hides the password."""


def safe_url(url: str) -> str:
    """The URL as it may be shown to a person: the password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL may hold a secret anywhere in it
        return "<unparsable database URL>"


def make_engine(url: str) -> Engine:
    """An engine that fails fast when the server is away; SQLite's folder is created if missing."""
    parsed = make_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args["timeout"] = 30
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 5
    engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def describe_error(error: BaseException) -> str:
    """The first line of the driver's own message: enough to act on, never the URL."""
    original = getattr(error, "orig", None) or error
    return (str(original).strip().splitlines() or [type(original).__name__])[0]


def check_database(engine: Engine) -> None:
    """Connect once and create what is missing, before the run spends anything on the X API."""
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
        metadata.create_all(engine, checkfirst=True)
    except SQLAlchemyError as error:
        raise DatabaseUnavailable(
            f"database {engine.url.render_as_string(hide_password=True)} "
            f"is not usable: {describe_error(error)}"
        ) from None


def _lock_snapshot(connection: Connection, snapshot_key: str) -> None:
    """Serialise writers of one snapshot: the second waits, then replaces, never interleaves."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": snapshot_key}
        )


def replace_snapshot(
    engine: Engine, run: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Replace the snapshot (date, selection) with `rows` and record the run, all or nothing."""
    snapshot = (app_mentions.c.snapshot_date == run["snapshot_date"]) & (
        app_mentions.c.selection == run["selection"]
    )
    with engine.begin() as connection:
        _lock_snapshot(connection, f"{run['snapshot_date']}|{run['selection']}")
        connection.execute(delete(app_mentions).where(snapshot))
        if rows:
            connection.execute(insert(app_mentions), list(rows))
        connection.execute(insert(appbuzz_runs), dict(run))


def record_run(engine: Engine, run: Mapping[str, Any]) -> None:
    """Record a run that loaded nothing (failed or rejected), so the history stays complete."""
    with engine.begin() as connection:
        connection.execute(insert(appbuzz_runs), dict(run))
