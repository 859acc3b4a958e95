"""A database that went away, answered as 503 with the reason: JSON for the API, a page for people.

The reason is `sinks.database.describe_error`'s one line (no URL, no password). Pages are served
by `PageRoute`, whose handler turns the error into the error page itself, so the app-wide
handler (`as_problem`) only ever answers the API's routes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import OperationalError

from api import dashboard
from sinks.database import describe_error


def reason(error: OperationalError) -> str:
    return f"database unavailable: {describe_error(error)}"


async def as_problem(_: Request, error: Exception) -> JSONResponse:
    """The API's 503: `{"detail": "database unavailable: ..."}` (the `Problem` schema)."""
    assert isinstance(error, OperationalError)
    return JSONResponse({"detail": reason(error)}, status_code=503)


class PageRoute(APIRoute):
    """A page's route: a database that went away is the 503 page, not JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except OperationalError as error:
                return HTMLResponse(dashboard.unavailable_page(reason(error)), status_code=503)

        return page_handler
