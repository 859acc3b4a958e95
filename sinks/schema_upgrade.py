"""Tables made by an older appbuzz brought up to date in place, data kept.

`create_all` skips a table that exists, so what changed since is applied here, on every run's
first connection, under the schema lock: columns added since (always nullable) are added, and a
primary key widened since (the ledger's gained `strategy`, so a night's counts of two strategies
stand side by side) is widened. Both are no-ops on an up-to-date database.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, inspect
from sqlalchemy.schema import CreateColumn

from sinks.tables import metadata


def upgrade_schema(connection: Connection) -> list[str]:
    """Apply what an older schema lacks; returns what changed, e.g. `app_mentions.x_cost_usd`."""
    return _add_missing_columns(connection) + _widen_primary_keys(connection)


def _existing(connection: Connection) -> list[Table]:
    present = set(inspect(connection).get_table_names())
    return [table for table in metadata.sorted_tables if table.name in present]


def _add_missing_columns(connection: Connection) -> list[str]:
    inspector = inspect(connection)
    added = []
    for table in _existing(connection):
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            spec = CreateColumn(column).compile(dialect=connection.dialect)
            connection.exec_driver_sql(
                f"ALTER TABLE {_quoted(connection, table.name)} ADD COLUMN {spec}"
            )
            added.append(f"{table.name}.{column.name}")
    return added


def _widen_primary_keys(connection: Connection) -> list[str]:
    inspector = inspect(connection)
    widened = []
    for table in _existing(connection):
        stored = inspector.get_pk_constraint(table.name)
        wanted = [column.name for column in table.primary_key.columns]
        if not stored["constrained_columns"] or set(stored["constrained_columns"]) == set(wanted):
            continue
        if connection.dialect.name == "postgresql":
            name = _quoted(connection, table.name)
            keys = ", ".join(_quoted(connection, column) for column in wanted)
            # PostgreSQL always names a key; `<table>_pkey` unless someone chose another name
            constraint = _quoted(connection, stored["name"] or f"{table.name}_pkey")
            connection.exec_driver_sql(
                f"ALTER TABLE {name} DROP CONSTRAINT {constraint}, ADD PRIMARY KEY ({keys})"
            )
        else:
            _rebuild(connection, table)
        widened.append(f"{table.name} key ({', '.join(wanted)})")
    return widened


def _rebuild(connection: Connection, table: Table) -> None:
    """SQLite cannot alter a key: the table is made again under its name and its rows copied."""
    old = f"{table.name}_before_upgrade"
    connection.exec_driver_sql(
        f"ALTER TABLE {_quoted(connection, table.name)} RENAME TO {_quoted(connection, old)}"
    )
    table.create(connection)
    columns = ", ".join(_quoted(connection, column.name) for column in table.columns)
    connection.exec_driver_sql(
        f"INSERT INTO {_quoted(connection, table.name)} ({columns}) "
        f"SELECT {columns} FROM {_quoted(connection, old)}"
    )
    connection.exec_driver_sql(f"DROP TABLE {_quoted(connection, old)}")


def _quoted(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)
