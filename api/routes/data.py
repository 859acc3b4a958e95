"""The API: the original web app's `/apps.json` and `/apps.csv`, run history, health.

Every route reads through the read-only engine (`api.readonly`), connecting only once FastAPI has
validated its parameters (`api.params`). Each declares what it can answer besides its 200
(`api.responses`): 304 for a cached one, 404 where an app can be missing, 422, and 503, always as
JSON, when the database is away (`api.unavailable`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import polars as pl
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from api import queries
from api.cache import cached
from api.models import AppRow, DayPoint, Health, HistoryPoint, Run
from api.params import (
    AppId,
    Database,
    Limit,
    Offset,
    Selection,
    Since,
    Snapshot,
    SnapshotQuery,
)
from api.responses import (
    CACHED,
    CONDITIONAL,
    CSV,
    NOT_FOUND,
    TOTAL,
    UNAVAILABLE,
    CSVResponse,
    declared,
)
from sinks.database import describe_error
from sinks.trends import TREND_SCHEMA

router = APIRouter()

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


def _rows(request: Request, db: Engine, query: SnapshotQuery) -> list[dict[str, Any]]:
    with db.connect() as connection:
        return queries.apps(
            connection,
            query.selection,
            query.snapshot_date,
            query.genres,
            request.app.state.spike_rule,
        )


@router.get(
    "/apps.json",
    summary="A snapshot as JSON",
    response_model=list[AppRow],  # type: ignore[valid-type]  # a pydantic create_model
    responses=declared(CACHED, UNAVAILABLE),
    openapi_extra=CONDITIONAL,
)
@cached(pinned_by=["snapshot_date"])
def apps_json(request: Request, db: Database, query: Snapshot) -> list[dict[str, Any]]:
    """One snapshot in rank order, the original field names first (as `apps.json`)."""
    return _rows(request, db, query)


@router.get(
    "/apps.csv",
    summary="A snapshot as a CSV download",
    response_class=Response,  # no media type of its own: see api.responses
    responses=declared(CSV, CACHED, UNAVAILABLE),
    openapi_extra=CONDITIONAL,
)
@cached(pinned_by=["snapshot_date"])
def apps_csv(request: Request, db: Database, query: Snapshot) -> CSVResponse:
    """The same rows as `/apps.json`, as a download with the columns of `apps.csv`."""
    rows = _rows(request, db, query)
    body = pl.DataFrame(rows, schema=_CSV_SCHEMA, orient="row").write_csv()
    return CSVResponse(body, headers={"Content-Disposition": "attachment; filename=apps.csv"})


@router.get(
    "/runs",
    summary="The run history",
    response_model=list[Run],  # type: ignore[valid-type]
    responses=declared(TOTAL, CACHED, UNAVAILABLE),
    openapi_extra=CONDITIONAL,
)
@cached()
def runs(
    db: Database, response: Response, limit: Limit = 50, offset: Offset = 0
) -> list[dict[str, Any]]:
    """The run history, newest first; `X-Total-Count` says how many runs there are."""
    with db.connect() as connection:
        page, total = queries.runs(connection, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    return page


@router.get(
    "/apps/{app_id}/history",
    summary="One app across snapshots",
    response_model=list[HistoryPoint],  # type: ignore[valid-type]
    responses=declared(CACHED, NOT_FOUND, UNAVAILABLE),
    openapi_extra=CONDITIONAL,
)
@cached()
def app_history(
    db: Database, app_id: AppId, selection: Selection = queries.DEFAULT_SELECTION
) -> list[dict[str, Any]]:
    """One point per snapshot that holds the app, oldest first: the trend nights build."""
    with db.connect() as connection:
        points = queries.history(connection, app_id, selection)
    if not points:
        raise HTTPException(404, f"app {app_id} is in no snapshot of {selection}")
    return points


@router.get(
    "/apps/{app_id}/days",
    summary="One app's mentions per day",
    response_model=list[DayPoint],  # type: ignore[valid-type]
    responses=declared(CACHED, NOT_FOUND, UNAVAILABLE),
    openapi_extra=CONDITIONAL,
)
@cached()
def app_days(
    db: Database,
    app_id: AppId,
    selection: Selection = queries.DEFAULT_SELECTION,
    since: Since = None,
) -> list[dict[str, Any]]:
    """The app's mentions per UTC day, oldest first: X's day buckets of every night's count and
    of any backfill; `whole` is false for a partial day (the first and last of a 7-day window).
    An app of the selection with no day counted yet (no X token, say) has `[]`; 404 is for an
    app the selection never held."""
    with db.connect() as connection:
        found = queries.days(connection, app_id, selection, since)
        known = (
            bool(found)
            or queries.app_name(connection, app_id, selection) is not None
            or bool(queries.days(connection, app_id, selection))
        )
    if not known:
        raise HTTPException(404, f"app {app_id} is not in {selection}")
    return found


@router.get(
    "/healthz",
    summary="Is the database reachable?",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def healthz(db: Database) -> Any:
    """200 when the database answers, 503 (with the reason) when it does not."""
    try:
        with db.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        return JSONResponse(
            Health(
                status="unavailable", database=db.dialect.name, detail=describe_error(error)
            ).model_dump(),
            status_code=503,
        )
    return Health(status="ok", database=db.dialect.name)
