"""The HTTP routes: the original web app's `/apps.json` and `/apps.csv`, plus run history.

Every route reads through a read-only engine (`api.readonly`). Bad parameters are refused by
FastAPI's validation (422, naming the parameter) before any SQL runs, so nothing a client
sends can reach the database as a malformed value; a database that went away is a 503.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

import polars as pl
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from api import queries
from api.cache import CachedFastAPI, cached
from api.docs import add_local_docs
from api.models import AppRow, Health, HistoryPoint, Problem, Run
from api.pages import router as pages
from api.readonly import readonly_engine
from sinks.database import describe_error
from sinks.trends import TREND_SCHEMA
from transforms.trends import SpikeRule

# Printable text only: a NUL or control character is a client's mistake, and PostgreSQL
# would refuse a NUL inside a query parameter with an error instead of an empty answer.
Text = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]

MAX_APP_ID = 2**63 - 1  # BIGINT: a larger id is unknown by construction, and must not overflow
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Problem, "description": "the database is unavailable"}
}

SelectionParam = Annotated[
    Text,
    Query(description="the run's genres and size; encode `+` as `%2B` in a URL"),
]


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD: pydantic alone would also take a timestamp or a datetime for a date."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD")
    return value


SnapshotParam = Annotated[
    Annotated[date, BeforeValidator(_iso_date)] | None,
    Query(description="YYYY-MM-DD; default: the newest snapshot of the selection"),
]
GenreParam = Annotated[
    list[Text],
    Query(
        default_factory=list,
        max_length=50,
        description="keep only these genres (repeat for more than one)",
    ),
]


class CSVResponse(Response):
    media_type = "text/csv"


def connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as connection:
        yield connection


Db = Annotated[Connection, Depends(connection)]


def _snapshot(
    request: Request,
    db: Db,
    genre: GenreParam,
    selection: SelectionParam = queries.DEFAULT_SELECTION,
    snapshot_date: SnapshotParam = None,
) -> list[dict[str, Any]]:
    return queries.apps(db, selection, snapshot_date, genre, request.app.state.spike_rule)


Snapshot = Annotated[list[dict[str, Any]], Depends(_snapshot)]

# polars writes the apps.csv file; the same types through the same writer give the same bytes.
_CSV_SCHEMA = {
    **{
        name: {int: pl.Int64(), float: pl.Float64(), str: pl.String(), date: pl.Date()}[
            column.type.python_type
        ]
        for name, column in queries.SNAPSHOT_COLUMNS.items()
    },
    **TREND_SCHEMA,
}


def create_app(database_url: str, spike_rule: SpikeRule | None = None) -> FastAPI:
    """The API over the database at `database_url`, opened read-only; spikes marked by
    `spike_rule` (the settings' thresholds, which the command line reads and hands over)."""
    engine = readonly_engine(database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = CachedFastAPI(
        title="appbuzz",
        summary="The most-reviewed App Store apps and their mentions on X, night by night.",
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by api.docs from vendored assets, never a CDN
    )
    app.state.engine = engine
    app.state.spike_rule = spike_rule or SpikeRule()
    add_local_docs(app)
    app.include_router(pages)
    app.cache_responses(engine)  # `@cached` routes' answers reused until a newer run commits

    @app.exception_handler(OperationalError)
    async def database_unavailable(_: Request, error: OperationalError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"database unavailable: {describe_error(error)}"}, status_code=503
        )

    @app.get(
        "/apps.json",
        summary="A snapshot as JSON",
        response_model=list[AppRow],  # type: ignore[valid-type]  # a pydantic create_model
        responses=UNAVAILABLE,
    )
    @cached(pinned_by=["snapshot_date"])
    def apps_json(rows: Snapshot) -> list[dict[str, Any]]:
        """One snapshot in rank order, the original field names first (as `apps.json`)."""
        return rows

    @app.get(
        "/apps.csv",
        summary="A snapshot as a CSV download",
        response_class=CSVResponse,
        responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}, **UNAVAILABLE},
    )
    @cached(pinned_by=["snapshot_date"])
    def apps_csv(rows: Snapshot) -> CSVResponse:
        """The same rows as `/apps.json`, as a download with the columns of `apps.csv`."""
        body = pl.DataFrame(rows, schema=_CSV_SCHEMA, orient="row").write_csv()
        return CSVResponse(body, headers={"Content-Disposition": "attachment; filename=apps.csv"})

    @app.get(
        "/runs",
        summary="The run history",
        response_model=list[Run],  # type: ignore[valid-type]
        responses=UNAVAILABLE,
    )
    @cached()
    def runs(
        db: Db,
        response: Response,
        limit: Annotated[int, Query(ge=1, le=500, description="runs per page")] = 50,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="runs to skip")] = 0,
    ) -> list[dict[str, Any]]:
        """The run history, newest first; `X-Total-Count` says how many runs there are."""
        page, total = queries.runs(db, limit, offset)
        response.headers["X-Total-Count"] = str(total)
        return page

    @app.get(
        "/apps/{app_id}/history",
        summary="One app across snapshots",
        response_model=list[HistoryPoint],  # type: ignore[valid-type]
        responses={
            404: {"model": Problem, "description": "no snapshot holds the app"},
            **UNAVAILABLE,
        },
    )
    @cached()
    def app_history(
        db: Db,
        app_id: Annotated[int, Path(ge=1, le=MAX_APP_ID, description="App Store id")],
        selection: SelectionParam = queries.DEFAULT_SELECTION,
    ) -> list[dict[str, Any]]:
        """One point per snapshot that holds the app, oldest first: the trend nights build."""
        points = queries.history(db, app_id, selection)
        if not points:
            raise HTTPException(404, f"app {app_id} is in no snapshot of {selection}")
        return points

    @app.get(
        "/healthz",
        summary="Is the database reachable?",
        response_model=Health,
        responses={503: {"model": Health}},
    )
    def healthz(request: Request) -> Any:
        """200 when the database answers, 503 (with the reason) when it does not."""
        engine: Engine = request.app.state.engine
        try:
            with engine.connect() as db:
                db.execute(text("SELECT 1"))
        except SQLAlchemyError as error:
            return JSONResponse(
                Health(
                    status="unavailable", database=engine.dialect.name, detail=describe_error(error)
                ).model_dump(),
                status_code=503,
            )
        return Health(status="ok", database=engine.dialect.name)

    return app
