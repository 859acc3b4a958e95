"""Loading snapshots into the database: one transaction per snapshot, same code on every backend."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    make_url,
    text,
)
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.schema import CreateColumn

from sinks.files import PreparedOutputs
from sinks.tables import app_mentions, appbuzz_runs, metadata
from transforms.errors import DatabaseUnavailable, DatabaseUrlInvalid
from transforms.redaction import redact, shown_database_url
from transforms.run_record import RunRecord

__all__ = ["DatabaseUnavailable", "DatabaseUrlInvalid", "database", "make_engine"]


def make_engine(url: str) -> Engine:
    """An engine that fails fast when the server is away; SQLite's folder is created if missing.

    A URL that cannot work raises `DatabaseUrlInvalid` and a folder that cannot be made raises
    `DatabaseUnavailable`, each with one line that never shows the password.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message may quote the URL: never pass it on
        raise DatabaseUrlInvalid(
            "the database URL is not a SQLAlchemy URL (expected e.g. "
            "postgresql+psycopg://user@host:5432/db or sqlite:///data/appbuzz.db)"
        ) from None
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise DatabaseUnavailable(
                    f"database {shown_database_url(parsed)} is not usable: cannot create the folder "
                    f"{folder} ({error.strerror})"
                ) from None
        connect_args["timeout"] = 30
    elif parsed.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = 5
    try:
        usable = not parsed.get_dialect().is_async  # e.g. Prefect's own postgresql+asyncpg://
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (ArgumentError, ImportError):  # an unknown dialect or a driver that is not installed
        usable = False
    if not usable:
        raise DatabaseUrlInvalid(
            f"database {shown_database_url(parsed)}: the driver {parsed.drivername!r} is not available "
            "(appbuzz runs on postgresql+psycopg:// and sqlite:///)"
        )
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


@contextmanager
def database(url: str) -> Iterator[Engine]:
    """An engine for the length of a `with` block, its connections closed after (see
    `make_engine` for the errors)."""
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as error:
        # a new file that another connection is writing: switching needs it alone, and SQLite
        # does not wait for that. WAL is a property of the file: the next connection sets it.
        if "locked" not in str(error):
            raise
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def describe_error(error: BaseException) -> str:
    """The first line of the driver's own message: enough to act on, never the URL."""
    original = getattr(error, "orig", None) or error
    return redact((str(original).strip().splitlines() or [type(original).__name__])[0])


def _lock_schema(connection: Connection) -> None:
    """Serialise schema creation: runs started together on a new database would otherwise both
    see no tables and both create them, and the second would fail."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('appbuzz', 0))"))
    elif connection.dialect.name == "sqlite":  # take SQLite's one write lock now, waiting for it
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def add_missing_columns(connection: Connection) -> list[str]:
    """Bring tables made by an older appbuzz up to date: `create_all` skips a table that exists,
    so each column added since (always nullable) is added in place. Returns what was added."""
    inspector = inspect(connection)
    existing_tables = set(inspector.get_table_names())
    added = []
    for table in metadata.sorted_tables:
        if table.name not in existing_tables:
            continue  # a view, or not created here
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            spec = CreateColumn(column).compile(dialect=connection.dialect)
            quoted = connection.dialect.identifier_preparer.quote(table.name)
            connection.exec_driver_sql(f"ALTER TABLE {quoted} ADD COLUMN {spec}")
            added.append(f"{table.name}.{column.name}")
    return added


def check_database(engine: Engine) -> None:
    """Connect once and create what is missing, before the run spends anything on the X API."""
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            _lock_schema(connection)
            metadata.create_all(connection, checkfirst=True)
            add_missing_columns(connection)
    except SQLAlchemyError as error:
        raise DatabaseUnavailable(
            f"database {shown_database_url(engine.url)} is not usable: {describe_error(error)}"
        ) from None


def snapshot_lock_key(snapshot_date: object, selection: str) -> str:
    """The name of the lock that writers of one snapshot (date, selection) take in turn."""
    return f"{snapshot_date}|{selection}"


def _lock_snapshot(connection: Connection, snapshot_key: str) -> None:
    """Serialise writers of one snapshot: the second waits, then replaces, never interleaves."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": snapshot_key}
        )


def replace_snapshot(
    engine: Engine,
    run: RunRecord,
    rows: Sequence[Mapping[str, Any]],
    stage: Callable[[Connection], PreparedOutputs] | None = None,
) -> None:
    """Replace the snapshot (date, selection) with `rows` and record the run, all or nothing.

    With `stage`, the files are rendered from the transaction's own view (the rows just written
    and the nights before: their change), published as its last step and restored if it does
    not commit, so the files and the rows are of one night (see `sinks.files.PreparedOutputs`).
    """
    files: PreparedOutputs | None = None
    snapshot = (app_mentions.c.snapshot_date == run.snapshot_date) & (
        app_mentions.c.selection == run.selection
    )
    try:
        try:
            with engine.begin() as connection:
                _lock_snapshot(connection, snapshot_lock_key(run.snapshot_date, run.selection))
                connection.execute(delete(app_mentions).where(snapshot))
                if rows:
                    connection.execute(insert(app_mentions), list(rows))
                connection.execute(insert(appbuzz_runs), run.row())
                if stage is not None:
                    files = stage(connection)
                    files.publish()
        except BaseException:
            if files is not None:
                files.restore()
            raise
        if files is not None:
            files.discard()  # committed: the previous files kept aside go
    except (OperationalError, InterfaceError) as error:  # the connection failed, not the data
        raise DatabaseUnavailable(
            f"database {shown_database_url(engine.url)}: the load of {run.selection} on "
            f"{run.snapshot_date} was rolled back: {describe_error(error)}"
        ) from None


def record_run(engine: Engine, run: RunRecord) -> None:
    """Record a run that loaded nothing (failed or rejected), so the history stays complete."""
    with engine.begin() as connection:
        connection.execute(insert(appbuzz_runs), run.row())
