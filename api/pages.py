"""The HTML pages' routes: thin wrappers over `api.dashboard`, which builds each page.

Pages are for people, so they are left out of the OpenAPI schema (the JSON routes are the API).
A malformed parameter is a 422 as on every route; an unknown night or app is a 404 page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, Engine

from api import dashboard
from api.cache import cached
from api.queries import DEFAULT_SELECTION

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

MAX_APP_ID = 2**63 - 1


def _night(value: object) -> object:
    """YYYY-MM-DD, or empty for the newest (the picker's first choice submits `night=`)."""
    if value == "":
        return None
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise PydanticCustomError("date_format", "expected a date as YYYY-MM-DD")
    return value


Selection = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Night = Annotated[date | None, BeforeValidator(_night)]


def _connection(request: Request) -> Iterator[Connection]:
    engine: Engine = request.app.state.engine
    with engine.connect() as connection:
        yield connection


Db = Annotated[Connection, Depends(_connection)]


def _page(body: str | None, missing: str) -> HTMLResponse:
    if body is None:
        return HTMLResponse(dashboard.not_found_page(missing), status_code=404)
    return HTMLResponse(body)


@router.get("/")
@cached(pinned_by=["night"])
def overview(
    request: Request,
    db: Db,
    selection: Annotated[Selection, Query()] = DEFAULT_SELECTION,
    night: Annotated[Night, Query()] = None,
) -> HTMLResponse:
    """The dashboard: one night of a selection (default: the newest of the default one)."""
    body = dashboard.overview_page(db, request.app.state.spike_rule, selection, night)
    return _page(body, f"{selection} has no snapshot on {night}.")


@router.get("/apps/{app_id}")
@cached()
def app_page(
    request: Request,
    db: Db,
    app_id: Annotated[int, Path(ge=1, le=MAX_APP_ID)],
    selection: Annotated[Selection, Query()] = DEFAULT_SELECTION,
) -> HTMLResponse:
    """One app's nights: counts and rank, charted and as a table."""
    body = dashboard.app_page(db, request.app.state.spike_rule, app_id, selection)
    return _page(body, f"App {app_id} is in no snapshot of {selection}.")


@router.get("/history")
@cached()
def history(db: Db, offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0) -> HTMLResponse:
    """The run history, newest first."""
    return HTMLResponse(dashboard.history_page(db, offset))
