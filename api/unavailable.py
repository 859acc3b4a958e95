"""A database that went away, answered as 503 with the reason.

The reason is `sinks.database.describe_error`'s one line (no URL, no password).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

from sinks.database import describe_error


def reason(error: OperationalError) -> str:
    return f"database unavailable: {describe_error(error)}"


async def as_problem(_: Request, error: Exception) -> JSONResponse:
    """The API's 503: `{"detail": "database unavailable: ..."}` (the `Problem` schema)."""
    assert isinstance(error, OperationalError)
    return JSONResponse({"detail": reason(error)}, status_code=503)
