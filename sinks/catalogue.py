"""Load a validated catalogue into `app_catalogue`, once per catalogue version.

The rows arrive as a CSV file (`sources.catalogue_pass.ValidRows`: no header, the version in
the first column). PostgreSQL takes the file's bytes as they are through `COPY ... FROM STDIN`
(psycopg 3), the fastest way in, as fast as `psql \\copy`; SQLite gets batched inserts. Either
way the version is claimed in `app_catalogue_versions` first, in the same transaction, so an
unchanged file is never loaded twice, even by two runs at once, and a failed load leaves
nothing behind.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
from psycopg import sql
from sqlalchemy import Connection, Engine, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from sinks.tables import app_catalogue, app_catalogue_versions

COPY_CHUNK_BYTES = 1 << 20
SQLITE_BATCH_ROWS = 50_000


def catalogue_loaded(engine: Engine, sha256: str) -> bool:
    """Whether this catalogue version is already in the database."""
    version = app_catalogue_versions.c.catalogue_sha256 == sha256
    with engine.connect() as connection:
        return bool(connection.scalar(select(exists().where(version))))


def load_catalogue(
    engine: Engine,
    *,
    sha256: str,
    csv_path: Path,
    columns: Sequence[str],
    rows: int,
    source_path: str,
    loaded_at: datetime,
    exclude: Mapping[str, Sequence[Any]] | None = None,
) -> bool:
    """Load the rows of `csv_path` as catalogue version `sha256`, all or nothing.

    Returns False, loading nothing, when the version is already there. Rows whose value in a
    column of `exclude` is listed there are skipped.
    """
    exclude = exclude or {}
    with engine.begin() as connection:
        if not _claim_version(connection, sha256, source_path, rows, loaded_at):
            return False
        if connection.dialect.name == "postgresql":
            _copy_postgresql(connection, csv_path, columns, exclude)
        else:
            _insert_batches(connection, csv_path, columns, exclude, loaded_at)
    return True


def _claim_version(
    connection: Connection, sha256: str, source_path: str, rows: int, loaded_at: datetime
) -> bool:
    """Insert the version row unless present; a concurrent claim waits for the other to end."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    claim = (
        dialect.insert(app_catalogue_versions)
        .values(
            catalogue_sha256=sha256, source_path=source_path, rows_loaded=rows, loaded_at=loaded_at
        )
        .on_conflict_do_nothing(index_elements=["catalogue_sha256"])
        .returning(app_catalogue_versions.c.catalogue_sha256)
    )
    return connection.execute(claim).scalar_one_or_none() is not None


def _copy_postgresql(
    connection: Connection,
    csv_path: Path,
    columns: Sequence[str],
    exclude: Mapping[str, Sequence[Any]],
) -> None:
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)").format(
        table=sql.Identifier(app_catalogue.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    if exclude:  # rows the file holds but validation rejected afterwards (duplicate ids)
        statement = sql.SQL("{} WHERE {}").format(
            statement,
            sql.SQL(" AND ").join(
                sql.SQL("{} NOT IN ({})").format(
                    sql.Identifier(name), sql.SQL(", ").join(map(sql.Literal, values))
                )
                for name, values in exclude.items()
            ),
        )
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(statement) as copy, csv_path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK_BYTES):
            copy.write(chunk)


def _insert_batches(
    connection: Connection,
    csv_path: Path,
    columns: Sequence[str],
    exclude: Mapping[str, Sequence[Any]],
    loaded_at: datetime,
) -> None:
    schema = {name: app_catalogue.c[name].type.python_type for name in columns}
    rows = pl.scan_csv(
        csv_path,
        has_header=False,
        schema={name: _polars_type(kind) for name, kind in schema.items()},
    )
    for name, values in exclude.items():
        rows = rows.filter(~pl.col(name).is_in(pl.Series(values).implode()))
    for batch in rows.collect_batches(chunk_size=SQLITE_BATCH_ROWS):
        connection.execute(
            app_catalogue.insert(),
            [{**row, "loaded_at": loaded_at} for row in batch.iter_rows(named=True)],
        )


def _polars_type(kind: type) -> pl.DataType:
    return {int: pl.Int64(), float: pl.Float64(), str: pl.String()}[kind]
