"""What the data routes declare besides their 200, so the OpenAPI document says what they send.

FastAPI declares 422 itself (application/json). A declared `model` is put under the route's own
media type, which made `/apps.csv`'s 503 read as text/csv; so the CSV route's class has no media
type, and its answer (`CSVResponse`) names it. A 304 comes from the response cache
(`api.cache`), which reads `If-None-Match` before the route runs; the header is declared here.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.models import Problem

Responses = dict[int | str, dict[str, Any]]


class CSVResponse(Response):
    media_type = "text/csv"


def _header(description: str, kind: str = "string", required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": {"type": kind}}


VALIDATORS = {
    "ETag": _header("a strong tag of the body; `-gz` marks the gzipped one"),
    "Cache-Control": _header("`public, max-age=1`, or a day for a night with a newer one after it"),
}
# The cache's headers when it kept the answer (not when the database could not say which run is
# the newest): so they are declared, not required.
CACHED: Responses = {
    200: {"headers": VALIDATORS},
    304: {
        "description": "`If-None-Match` names the current answer: no body",
        "headers": VALIDATORS,
    },
}
UNAVAILABLE: Responses = {
    503: {"model": Problem, "description": "the database is unavailable"},
}
NOT_FOUND: Responses = {404: {"model": Problem, "description": "no snapshot holds the app"}}
CSV: Responses = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "headers": {
            "Content-Disposition": _header("`attachment; filename=apps.csv`", required=True)
        },
    }
}
TOTAL: Responses = {
    200: {"headers": {"X-Total-Count": _header("runs in all", "integer", required=True)}}
}

CONDITIONAL = {
    "parameters": [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "an `ETag` from an earlier answer: 304 while it is still current",
            "schema": {"type": "string"},
        }
    ]
}


def declared(*parts: Responses) -> Responses:
    """The parts merged per status, headers included (`CACHED` and `CSV` both add to 200)."""
    merged: Responses = {}
    for part in parts:
        for status, response in part.items():
            into = merged.setdefault(status, {})
            for key, value in response.items():
                into[key] = {**into.get(key, {}), **value} if isinstance(value, dict) else value
    return merged
