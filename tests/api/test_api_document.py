"""The OpenAPI document tells the truth about each route, including while the database is away,
and HEAD answers wherever GET does. Unit tests in this process (no database is reachable: a
PostgreSQL URL on a closed loopback port), then HEAD against the real server."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app

CACHED = ("/apps.json", "/apps.csv", "/runs", "/apps/{app_id}/history", "/apps/{app_id}/days")
READS_THE_DATABASE = (*CACHED, "/healthz")


@pytest.fixture(scope="module")
def away() -> Iterator[FastAPI]:
    """The app over a PostgreSQL URL nobody answers (create_app connects lazily, as it may)."""
    with socket.socket() as sock:  # bound, never listening: connections are refused at once
        sock.bind(("127.0.0.1", 0))
        yield create_app(f"postgresql+psycopg://appbuzz@127.0.0.1:{sock.getsockname()[1]}/x")


def call(app: FastAPI, method: str, path: str) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://appbuzz") as client:
            return await client.request(method, path)

    return anyio.run(send)


def test_every_answer_is_declared_with_its_media_type(away: FastAPI) -> None:
    paths = call(away, "GET", "/openapi.json").json()["paths"]
    assert set(paths) == set(READS_THE_DATABASE)
    for path in READS_THE_DATABASE:
        assert set(paths[path]) == {"get"}, path  # HEAD is implicit (RFC 9110), not an operation
        responses = paths[path]["get"]["responses"]
        assert responses["503"]["content"] == {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/" + ("Health" if path == "/healthz" else "Problem")}
            }
        }, path  # fmt: skip
        if path in CACHED:
            assert "content" not in responses["304"] and "ETag" in responses["304"]["headers"]
            assert list(responses["422"]["content"]) == ["application/json"]
    history = paths["/apps/{app_id}/history"]["get"]["responses"]
    assert list(history["404"]["content"]) == ["application/json"]
    assert list(paths["/apps.csv"]["get"]["responses"]["200"]["content"]) == ["text/csv"]


def test_the_csv_routes_503_is_json_as_declared(away: FastAPI) -> None:
    answer = call(away, "GET", "/apps.csv")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"].startswith("database unavailable: ")


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/runs?limit=0", ["query", "limit"]),
        ("/apps.json?snapshot_date=yesterday", ["query", "snapshot_date"]),
        ("/apps.csv?genre=", ["query", "genre", 0]),
        ("/apps/0/history", ["path", "app_id"]),
        ("/?night=x", ["query", "night"]),
        ("/apps/abc", ["path", "app_id"]),
        ("/history?offset=-1", ["query", "offset"]),
    ],
)
def test_malformed_parameters_are_422_while_the_database_is_away(
    away: FastAPI, path: str, named: list
) -> None:
    """Parameters are checked before a connection is opened: a client's mistake is named, not
    hidden behind the database's state."""
    answer = call(away, "GET", path)
    assert answer.status_code == 422, answer.text
    assert [error["loc"] for error in answer.json()["detail"]] == [named]


def test_pages_say_503_as_a_page_and_the_api_as_json(away: FastAPI) -> None:
    for page in ("/", "/apps/284035177", "/history"):
        answer = call(away, "GET", page)
        assert answer.status_code == 503 and answer.headers["content-type"].startswith("text/html")
        assert "<h1>Database unavailable</h1>" in answer.text and 'lang="en"' in answer.text
    for path in ("/apps.json", "/runs", "/apps/1/history"):
        assert call(away, "GET", path).json()["detail"].startswith("database unavailable: ")


def test_docs_page_names_its_language(away: FastAPI) -> None:
    assert '<html lang="en">' in call(away, "GET", "/docs").text


def _same_headers(get: httpx.Response, head: httpx.Response) -> None:
    assert head.status_code == get.status_code
    assert head.content == b""
    drop = {"date"}
    assert {k: v for k, v in head.headers.items() if k not in drop} == {
        k: v for k, v in get.headers.items() if k not in drop
    }


def test_head_answers_as_get_does_without_the_body(served: str, snapshots) -> None:
    paths = [
        "/apps.json", f"/apps.csv?snapshot_date={snapshots.earlier}", "/runs?limit=1",
        f"/apps/{snapshots.climber}/history", "/apps/1/history", "/runs?limit=0", "/healthz",
        "/", f"/apps/{snapshots.climber}", "/history", "/apps/1", "/docs", "/openapi.json",
        "/static/swagger-ui/swagger-ui.css",
    ]  # fmt: skip
    with httpx.Client(base_url=served) as client:
        for path in paths:
            _same_headers(client.get(path), client.head(path))
        # a HEAD first (not yet cached) renders and keeps the answer its GET then gets
        fresh = "/apps.json?genre=Music"
        head = client.head(fresh)
        _same_headers(client.get(fresh), head)
        assert head.headers["etag"]
        tagged = client.head(fresh, headers={"If-None-Match": head.headers["etag"]})
        assert tagged.status_code == 304 and tagged.content == b""
        refused = client.post("/apps.json")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
