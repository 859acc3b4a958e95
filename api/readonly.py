"""Engines that cannot write: the API reads what the pipeline loaded and nothing else.

The guarantee sits in the database, not in the API's good manners: SQLite is opened with
`mode=ro`, and every PostgreSQL session starts with `default_transaction_read_only=on`.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from sinks.database import DatabaseUnavailable, describe_error
from transforms.redaction import safe_url


def readonly_engine(url: str) -> Engine:
    """An engine over `url` whose every connection refuses writes (SQLite or PostgreSQL)."""
    try:
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return create_engine(_sqlite_readonly_url(url, parsed), pool_pre_ping=True)
        if backend == "postgresql":
            options = " ".join(
                filter(
                    None,
                    [str(parsed.query.get("options") or ""), "-c default_transaction_read_only=on"],
                )
            )
            return create_engine(
                parsed,
                connect_args={"connect_timeout": 5, "options": options},
                pool_pre_ping=True,
            )
    except (ArgumentError, NoSuchModuleError, ValueError) as error:
        raise DatabaseUnavailable(
            f"database {safe_url(url)} is not usable: {describe_error(error)}"
        ) from None
    raise DatabaseUnavailable(
        f"database {safe_url(url)} is not usable: appbuzz serves SQLite or PostgreSQL"
    )


def _sqlite_readonly_url(url: str, parsed: URL) -> URL:
    """The same file as a SQLite URI with `mode=ro`: the driver itself refuses writes."""
    if parsed.query.get("uri") == "true" and (parsed.database or "").startswith("file:"):
        return parsed.update_query_dict({"mode": "ro"})
    if not parsed.database or parsed.database == ":memory:":
        raise DatabaseUnavailable(
            f"database {safe_url(url)} is not usable: an in-memory database holds nothing to serve"
        )
    path = Path(parsed.database).resolve()
    if not path.is_file():
        raise DatabaseUnavailable(
            f"database {safe_url(url)} is not usable: {path} does not exist "
            "(`appbuzz run` creates it)"
        )
    return parsed.set(database=f"file:{quote(str(path))}").update_query_dict(
        {"mode": "ro", "uri": "true"}
    )


def check_readable(engine: Engine, url: str) -> None:
    """Connect once before serving, so a wrong URL is one line at startup, not a 503 later."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        raise DatabaseUnavailable(
            f"database {safe_url(url)} is not usable: {describe_error(error)}"
        ) from None
