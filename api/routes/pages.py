"""The HTML pages' routes: thin wrappers over `api.dashboard`, which builds each page.

Pages are for people, so they are left out of the OpenAPI schema (the JSON routes are the API).
A malformed parameter is a 422 as on every route; an unknown night or app is a 404 page; a
database that went away is a 503 page (`api.unavailable.PageRoute`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api import dashboard
from api.cache import cached
from api.params import AppId, Database, Night, Offset, Selection
from api.queries import DEFAULT_SELECTION
from api.unavailable import PageRoute

router = APIRouter(
    include_in_schema=False, default_response_class=HTMLResponse, route_class=PageRoute
)


def _page(body: str | None, missing: str) -> HTMLResponse:
    if body is None:
        return HTMLResponse(dashboard.not_found_page(missing), status_code=404)
    return HTMLResponse(body)


@router.get("/")
@cached(pinned_by=["night"])
def overview(
    request: Request, db: Database, selection: Selection = DEFAULT_SELECTION, night: Night = None
) -> HTMLResponse:
    """The dashboard: one night of a selection (default: the newest of the default one)."""
    with db.connect() as connection:
        body = dashboard.overview_page(connection, request.app.state.spike_rule, selection, night)
    return _page(body, f"{selection} has no snapshot on {night}.")


@router.get("/apps/{app_id}")
@cached()
def app_page(
    request: Request, db: Database, app_id: AppId, selection: Selection = DEFAULT_SELECTION
) -> HTMLResponse:
    """One app's nights: counts and rank, charted and as a table."""
    with db.connect() as connection:
        body = dashboard.app_page(connection, request.app.state.spike_rule, app_id, selection)
    return _page(body, f"App {app_id} is in no snapshot of {selection}.")


@router.get("/history")
@cached()
def history(db: Database, offset: Offset = 0) -> HTMLResponse:
    """The run history, newest first."""
    with db.connect() as connection:
        return HTMLResponse(dashboard.history_page(connection, offset))
