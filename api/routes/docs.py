"""`/docs` from Swagger UI files vendored in the package: works offline, loads nothing from a CDN.

The files are the Swagger team's own `swagger-ui-dist` build (npm), unmodified, in
`api/static/swagger-ui` (see VENDORED.md there); FastAPI's page points at them instead of its
default CDN URLs, and gains the `lang` its `<html>` lacks (a screen reader then reads it as
English). The validator badge is off: it would send the schema to validator.swagger.io. The app
must be created with `docs_url=None`, so that this page is the only `/docs`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

SWAGGER_UI = Path(__file__).parents[1] / "static" / "swagger-ui"
PREFIX = "/static/swagger-ui"

router = APIRouter(include_in_schema=False)
router.mount(PREFIX, StaticFiles(directory=SWAGGER_UI), name="swagger-ui")


def docs_page(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI over `openapi_url`, every asset from this server."""
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{title} · API docs",
        swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
        swagger_css_url=f"{PREFIX}/swagger-ui.css",
        swagger_favicon_url=f"{PREFIX}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    return HTMLResponse(bytes(page.body).replace(b"<html>", b'<html lang="en">', 1))


@router.get("/docs")
def docs(request: Request) -> HTMLResponse:
    return docs_page(request.app.openapi_url or "/openapi.json", request.app.title)
