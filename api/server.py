"""`appbuzz serve`: check the database, bind the port, then let uvicorn serve until stopped.

Both checks happen before uvicorn starts, so a wrong URL or a busy port is one line from the
CLI (`DatabaseUnavailable`, `OSError`) rather than a log of a server that never came up.
"""

from __future__ import annotations

import contextlib
import socket

import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.readonly import check_readable


def prepare(database_url: str) -> FastAPI:
    """The app, once the database has answered (raises `DatabaseUnavailable`, one line)."""
    app = create_app(database_url)
    check_readable(app.state.engine, database_url)
    return app


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (raises `OSError` when taken or not an address here)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    return socket.create_server((host, port), family=family)


def serve(app: FastAPI, sock: socket.socket) -> None:
    """Serve on `sock` until SIGINT or SIGTERM; uvicorn finishes requests in flight first.

    uvicorn re-raises the signal once it has shut down: SIGTERM then ends the process as the
    signal would, and Ctrl-C, already handled, must not end in a KeyboardInterrupt traceback.
    """
    config = uvicorn.Config(app, log_level="info", proxy_headers=False)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
