"""The local PostgreSQL server and scratch databases on it.

The server is APPBUZZ_TEST_POSTGRES_URL (default the CI machine's
`postgresql+psycopg://postgres@127.0.0.1:5432/test`). When it is away the PostgreSQL tests skip
on a laptop and fail in CI (CI=true). Databases are created with the benchmarks' one
`ScratchDatabases`, so there is one `CREATE DATABASE` in the repository.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Executable, Table, create_engine, make_url, select, text
from sqlalchemy.sql.elements import ColumnElement

from bench.services import ScratchDatabases
from tests.support.requirements import missing

POSTGRES_URL = os.environ.get(
    "APPBUZZ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def checked_server(url: str = POSTGRES_URL) -> str:
    """`url` once it answers a query (else skipped, or failed in CI)."""
    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        missing(f"PostgreSQL at {url} is not reachable: {error}")
    finally:
        engine.dispose()
    return url


@contextmanager
def scratch_database(server_url: str, prefix: str = "appbuzz_test") -> Iterator[str]:
    """A fresh, empty database on the server, dropped (with its sessions) on exit."""
    databases = ScratchDatabases(server_url, prefix=prefix)
    try:
        yield databases.create()
    finally:
        databases.drop_all()


@contextmanager
def refusing(server_url: str, database_url: str) -> Iterator[None]:
    """The database at `database_url` refuses every connection, its open sessions ended, until
    exit: a database that went away while a server reads it (superusers are refused too)."""
    name = make_url(database_url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def query_rows(url: str, statement: Executable) -> list[dict[str, Any]]:
    """The rows `statement` reads from the database at `url` (either backend), as dicts."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [dict(r) for r in connection.execute(statement).mappings()]
    finally:
        engine.dispose()


def table_rows(url: str, table: Table, *order_by: ColumnElement[Any]) -> list[dict[str, Any]]:
    """Every row of `table` in the database at `url`, as dicts (in `order_by`'s order if given)."""
    return query_rows(url, select(table).order_by(*order_by))
