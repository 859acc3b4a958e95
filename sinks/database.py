"""The database as a run uses it: one engine per run (`Database`), the same code on SQLite and
PostgreSQL, a night loaded in one transaction.

`Database.open(url)` is the live resource; `Database.in_memory()` is an in-memory SQLite one for
tests of the tasks (its one connection shared by the task threads in turn).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Engine,
    StaticPool,
    create_engine,
    delete,
    event,
    insert,
    make_url,
    text,
)
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError, SQLAlchemyError

from sinks import days, ledger
from sinks.catalogue import catalogue_loaded, load_catalogue
from sinks.files import PreparedOutputs
from sinks.schema_upgrade import upgrade_schema
from sinks.tables import app_mentions, appbuzz_runs, metadata
from sinks.trends import Trend, trends
from transforms.catalogue_pass import ValidRows
from transforms.day_spikes import SpikeRule
from transforms.errors import DatabaseUnavailable, DatabaseUrlInvalid
from transforms.redaction import redact, shown_database_url
from transforms.run_record import RunRecord

__all__ = ["Database", "DatabaseUnavailable", "DatabaseUrlInvalid", "make_engine"]


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


def _absent_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False  # make_engine says what is wrong with it
    name = parsed.database
    return (
        parsed.get_backend_name() == "sqlite"
        and bool(name)
        and name != ":memory:"
        and not (Path(name or "").exists())
    )


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


def check_database(engine: Engine) -> None:
    """Connect once and create what is missing, before the run spends anything on the X API."""
    try:
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            _lock_schema(connection)
            metadata.create_all(connection, checkfirst=True)
            upgrade_schema(connection)
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


class NightLoad:
    """One night's load, inside its transaction: the ledger brought up to date and read back,
    the snapshot replaced, the run recorded, the night's change read, the files staged to go in
    place as the transaction's last step (see `sinks.files.PreparedOutputs`)."""

    def __init__(self, connection: Connection, snapshot_date: date, selection: str) -> None:
        self.connection = connection
        self.snapshot_date = snapshot_date
        self.selection = selection
        self.files: PreparedOutputs | None = None

    def record_counts(
        self, rows: Sequence[Mapping[str, Any]], day_rows: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        ledger.record_counts(self.connection, rows)
        days.record_days(self.connection, day_rows)

    def counts(self, strategy: str, app_ids: Sequence[int]) -> pl.DataFrame:
        """What the ledger holds for these apps on this night (`id`, query, result columns)."""
        return ledger.night_counts(
            self.connection, self.snapshot_date, self.selection, strategy, app_ids
        )

    def days(self, app_ids: Sequence[int], since: date) -> pl.DataFrame:
        """The stored days of these apps from `since` (`sinks.days.DAYS_SCHEMA`)."""
        return days.days_of(self.connection, self.selection, app_ids, since)

    def replace_snapshot(self, run: RunRecord, night: pl.DataFrame) -> None:
        """The snapshot (date, selection) becomes `night`'s rows (`id` plus the app's and the
        mention columns), and the run is recorded."""
        snapshot = (app_mentions.c.snapshot_date == self.snapshot_date) & (
            app_mentions.c.selection == self.selection
        )
        rows = night.rename({"id": "app_id"}).with_columns(
            snapshot_date=pl.lit(self.snapshot_date),
            selection=pl.lit(self.selection),
            run_id=pl.lit(run.run_id),
            loaded_at=pl.lit(run.finished_at),
        )
        columns = [c for c in rows.columns if c in app_mentions.c]
        self.connection.execute(delete(app_mentions).where(snapshot))
        if rows.height:
            self.connection.execute(insert(app_mentions), rows.select(columns).to_dicts())
        self.connection.execute(insert(appbuzz_runs), run.row())

    def record_run(self, run: RunRecord) -> None:
        """Record a run that loads no snapshot (a backfill's)."""
        self.connection.execute(insert(appbuzz_runs), run.row())

    def trends(self, rule: SpikeRule) -> list[Trend]:
        """The night's change since the nights before, as this transaction sees them."""
        return trends(self.connection, self.selection, rule, self.snapshot_date)

    def publish_with_commit(self, files: PreparedOutputs) -> None:
        """Put `files` in place as the transaction's last step (restored if it fails)."""
        self.files = files


class Database:
    """The run's database: one engine for the run, every call a short transaction of its own
    but the night's load, which is one (`night`). Connection failures raise
    `DatabaseUnavailable` with one line that never shows the password."""

    def __init__(self, engine: Engine, *, serialized: bool = False) -> None:
        self.engine = engine
        self.shown_url = shown_database_url(engine.url)
        self._turn: threading.RLock | None = threading.RLock() if serialized else None

    @classmethod
    def open(cls, url: str, *, read_only: bool = False) -> Database:
        """The database at `url` (see `make_engine` for the errors). To be `read_only` (a dry
        run writes nothing), a SQLite file that does not exist yet is read as an empty
        database, never created."""
        if read_only and _absent_sqlite_file(url):
            return cls.in_memory()
        return cls(make_engine(url))

    @classmethod
    def in_memory(cls) -> Database:
        """A private in-memory SQLite database (for tests: one connection, taken in turn)."""
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine, serialized=True)

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.shown_url})"

    def _in_turn(self) -> AbstractContextManager[object]:
        return self._turn if self._turn is not None else nullcontext()

    @contextmanager
    def _failing_as_unavailable(self, what: str) -> Iterator[None]:
        try:
            with self._in_turn():
                yield
        except (OperationalError, InterfaceError) as error:  # the connection, not the data
            raise DatabaseUnavailable(
                f"database {self.shown_url}: {what}: {describe_error(error)}"
            ) from None

    def check(self) -> None:
        """Connect once and create what is missing, before the run spends anything on X."""
        with self._in_turn():
            check_database(self.engine)

    def catalogue_loaded(self, sha256: str) -> bool:
        with self._failing_as_unavailable("cannot read the catalogue versions"):
            return catalogue_loaded(self.engine, sha256)

    def load_catalogue(self, rows: ValidRows, source_path: str, loaded_at: datetime) -> bool:
        """Load the valid rows as one catalogue version, all or nothing; False: already there."""
        with self._failing_as_unavailable("the catalogue load was rolled back"):
            return load_catalogue(
                self.engine, sha256=rows.sha256, csv_path=rows.path, columns=rows.columns,
                rows=rows.rows, source_path=source_path, loaded_at=loaded_at, exclude=rows.exclude,
            )  # fmt: skip

    def night_ledger(self, snapshot_date: date, selection: str) -> pl.DataFrame:
        """What the ledger holds for a night and selection (read only: creates nothing)."""
        with (
            self._failing_as_unavailable("cannot read the ledger of counts"),
            self.engine.connect() as connection,
        ):
            return ledger.night_ledger(connection, snapshot_date, selection)

    def record_counts(
        self, rows: Sequence[Mapping[str, Any]], day_rows: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Upsert counts into the ledger and their days, in a transaction of their own."""
        with (
            self._failing_as_unavailable("the ledger did not take the count"),
            self.engine.begin() as connection,
        ):
            ledger.record_counts(connection, rows)
            days.record_days(connection, day_rows)

    def record_run(self, run: RunRecord) -> None:
        """Record a run that loaded nothing (failed or rejected), so the history stays complete."""
        with (
            self._failing_as_unavailable("the run was not recorded"),
            self.engine.begin() as connection,
        ):
            connection.execute(insert(appbuzz_runs), run.row())

    @contextmanager
    def night(self, snapshot_date: date, selection: str) -> Iterator[NightLoad]:
        """One transaction for a night's load, writers of the same night taking turns. Staged
        files go in place just before COMMIT and are restored if it does not happen: the files
        and the rows are always of one night."""
        load: NightLoad | None = None
        with self._failing_as_unavailable(
            f"the load of {selection} on {snapshot_date} was rolled back"
        ):
            try:
                with self.engine.begin() as connection:
                    _lock_snapshot(connection, snapshot_lock_key(snapshot_date, selection))
                    load = NightLoad(connection, snapshot_date, selection)
                    yield load
                    if load.files is not None:
                        load.files.publish()
            except BaseException:
                if load is not None and load.files is not None:
                    load.files.restore()
                raise
            if load.files is not None:
                load.files.discard()  # committed: the previous files kept aside go
