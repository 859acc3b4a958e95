"""`/docs` from Swagger UI files vendored in the package: works offline, loads nothing from a CDN.

The files are the Swagger team's own `swagger-ui-dist` build (npm), unmodified, in
`api/static/swagger-ui` (see VENDORED.md there); FastAPI's page points at them instead of its
default CDN URLs. The validator badge is off: it would send the schema to validator.swagger.io.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"
PREFIX = "/static/swagger-ui"


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI over `openapi_url`, every asset from this server."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} · API docs",
        swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


def add_local_docs(app: FastAPI) -> None:
    """Serve `/docs` and its assets; the app must be created with `docs_url=None`."""
    app.mount(PREFIX, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return docs_page(openapi_url, app.title)
