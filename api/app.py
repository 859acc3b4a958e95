"""The app: the routers (`api.routes`) over a read-only engine, behind HEAD and the cache.

Only assembly happens here: what each route does is in its router, what they take in
`api.params`, how a database that went away is answered in `api.unavailable`, and what meets a
request before FastAPI in `api.front`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from api.front import FrontedFastAPI
from api.readonly import readonly_engine
from api.routes import data, docs, pages
from api.unavailable import as_problem
from transforms.day_spikes import SpikeRule

DESCRIPTION = (
    "Every GET also answers HEAD: the same status and headers, without the body. "
    "While the database is away, every route that reads it answers 503 with a JSON `Problem`."
)


def create_app(database_url: str, spike_rule: SpikeRule | None = None) -> FastAPI:
    """The API over the database at `database_url`, opened read-only; spikes marked by
    `spike_rule` (the settings' thresholds, which the command line reads and hands over)."""
    engine = readonly_engine(database_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FrontedFastAPI(
        title="appbuzz",
        summary="The most-reviewed App Store apps and their mentions on X, night by night.",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        docs_url=None,  # served by api.routes.docs from vendored assets, never a CDN
    )
    app.state.engine = engine
    app.state.spike_rule = spike_rule or SpikeRule()
    app.add_exception_handler(OperationalError, as_problem)
    for routes in (data.router, pages.router, docs.router):
        app.include_router(routes)
    app.cache_responses(engine)  # `@cached` routes' answers reused until a newer run commits
    return app
