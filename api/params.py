"""What the routes take, defined once: the parameters' types and checks, and the database.

Every parameter is validated by FastAPI (422, naming it) before a route's body runs, so nothing a
client sends reaches the database as a malformed value. The database is handed over as its
engine, and routes connect in their body: a dependency that connected would run before FastAPI
reports a bad parameter, and a malformed request would get 503 instead of 422 while the database
is away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine

from api.queries import DEFAULT_SELECTION

MAX_APP_ID = 2**63 - 1  # BIGINT: a larger id is unknown by construction, and must not overflow

# Printable text only: a NUL or control character is a client's mistake, and PostgreSQL
# would refuse a NUL inside a query parameter with an error instead of an empty answer.
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also take a timestamp or a datetime for a date."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD")
    return value


def night_or_newest(value: object) -> object:
    """As `iso_date`, and empty for the newest: the night picker's first choice sends `night=`."""
    return None if value == "" else iso_date(value)


Selection = Annotated[
    Text, Query(description="the run's genres and size; encode `+` as `%2B` in a URL")
]
SnapshotDate = Annotated[
    Annotated[date, BeforeValidator(iso_date)] | None,
    Query(description="YYYY-MM-DD; default: the newest snapshot of the selection"),
]
Night = Annotated[
    Annotated[date | None, BeforeValidator(night_or_newest)],
    Query(description="YYYY-MM-DD, or empty for the newest night"),
]
Genres = Annotated[
    list[Text],
    Query(
        default_factory=list,
        max_length=50,
        description="keep only these genres (repeat for more than one)",
    ),
]
AppId = Annotated[int, Path(ge=1, le=MAX_APP_ID, description="App Store id")]
Since = Annotated[
    Annotated[date, BeforeValidator(iso_date)] | None,
    Query(description="YYYY-MM-DD: only days from this one on"),
]
Limit = Annotated[int, Query(ge=1, le=500, description="runs per page")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="runs to skip")]


@dataclass(frozen=True)
class SnapshotQuery:
    """Which rows of a snapshot `/apps.json` and `/apps.csv` serve."""

    selection: str
    snapshot_date: date | None
    genres: list[str]


def snapshot_query(
    genre: Genres, selection: Selection = DEFAULT_SELECTION, snapshot_date: SnapshotDate = None
) -> SnapshotQuery:
    return SnapshotQuery(selection, snapshot_date, genre)


def database(request: Request) -> Engine:
    """The app's read-only engine; a route connects to it only once its parameters are valid."""
    engine: Engine = request.app.state.engine
    return engine


Snapshot = Annotated[SnapshotQuery, Depends(snapshot_query)]
Database = Annotated[Engine, Depends(database)]
