"""While the database is away, a client's mistake is still named: parameters are checked before a
connection is opened. In this process, over a PostgreSQL URL on a closed loopback port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anyio
import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app


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
