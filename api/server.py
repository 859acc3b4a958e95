"""`appbuzz serve`: check the database, bind the port, then let uvicorn serve until stopped.

Both checks happen before uvicorn starts, so a wrong URL or a busy port is one line from the
CLI (`DatabaseUnavailable`, `OSError`) rather than a log of a server that never came up.
With more than one worker, uvicorn's supervisor starts that many processes on the one socket,
each building its own app (its own read-only pool and cache), and replaces a worker that dies.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp
from uvicorn.supervisors import Multiprocess

from api.app import create_app
from api.readonly import check_readable
from transforms.day_spikes import SpikeRule


def prepare(database_url: str, spike_rule: SpikeRule | None = None) -> FastAPI:
    """The app, once the database has answered (raises `DatabaseUnavailable`, one line)."""
    app = create_app(database_url, spike_rule)
    check_readable(app.state.engine, database_url)
    app.state.database_url = database_url  # for the workers, which each build their own app
    return app


def default_workers() -> int:
    """The cores this process may run on: one worker each."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host:port` (raises `OSError` when taken or not an address here)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.create_server((host, port), family=family)
    # Accepted connections inherit it (Linux): a response's header and body writes then leave
    # at once, instead of the body waiting on the client's delayed ACK (~40 ms a request).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def serve(app: FastAPI, sock: socket.socket, workers: int = 1) -> None:
    """Serve `app` on `sock` with `workers` processes until SIGINT or SIGTERM."""
    if workers == 1:
        run_uvicorn(lambda: app, sock, 1)
    else:
        factory = functools.partial(create_app, app.state.database_url, app.state.spike_rule)
        run_uvicorn(factory, sock, workers)


def run_uvicorn(factory: Callable[[], ASGIApp], sock: socket.socket, workers: int) -> None:
    """Serve what `factory` builds (once per worker; picklable when `workers` > 1) on `sock`.

    uvicorn finishes requests in flight first, then re-raises the signal once it has shut
    down: SIGTERM then ends the process as the signal would, and Ctrl-C, already handled, must
    not end in a KeyboardInterrupt traceback. No access log: a line per request costs more
    than a cached answer does. The benchmark serves its minimal app through here too.
    """
    options: dict[str, Any] = {"log_level": "info", "proxy_headers": False, "access_log": False}
    with contextlib.suppress(KeyboardInterrupt):
        if workers == 1:
            uvicorn.Server(uvicorn.Config(factory(), **options)).run(sockets=[sock])
        else:
            # a worker that imports slowly on a busy machine is not hung: give it time to answer
            config = uvicorn.Config(
                factory, factory=True, workers=workers, timeout_worker_healthcheck=60, **options
            )
            Multiprocess(config, sockets=[sock]).run()
