"""Rendered answers reused until a newer run commits, with the HTTP caching clients expect.

What the API serves changes only when a run commits (the snapshot rows and its `appbuzz_runs` row
go in one transaction), so a route marked `@cached(...)` renders a given path and query once per
committed state. `SnapshotVersion` reads that state (`count(*)`, `max(finished_at)` and
`max(snapshot_date)` of `appbuzz_runs`) every half second while requests come, and never answers
from a reading older than 0.9 s: every process serves a commit within a second. The version is
read before the route renders, so an entry can hold newer rows than its version, never older.

`ResponseCache`, an ASGI middleware in front of FastAPI (`api.front`), answers a repeated request
from the stored bytes without entering the framework (a HEAD reaches it as its GET): a strong
`ETag` per body and encoding (`If-None-Match` gets `304`), `Cache-Control` short for what the
next run will change and long for a night already followed by a newer one, and gzip when the
client takes it and it saves enough to pay.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import parse_qs

import anyio.to_thread
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sinks.tables import appbuzz_runs

F = TypeVar("F", bound=Callable[..., Any])

_POLICY = "__appbuzz_cache__"
GZIP_MIN_BYTES = 512  # below this, a header and a CPU cycle cost more than they save
GZIP_MAX_RATIO = 0.9  # a body gzip does not shrink by a tenth is sent as it is
MAX_ENTRIES = 2048  # distinct (path, query) answers kept per version; the oldest go first
LATEST_MAX_AGE = 1  # seconds a proxy may keep what the next run changes: our own freshness bound
PINNED_MAX_AGE = 86_400  # a night with a newer one after it changes only if it is run again


@dataclass(frozen=True)
class Policy:
    """How a route's answers are cached: which query parameters pin a snapshot date."""

    pinned_by: tuple[str, ...] = ()


def cached(*, pinned_by: Iterable[str] = ()) -> Callable[[F], F]:
    """Mark a route's 200 answers as reusable until a newer run commits.

    `pinned_by` names the query parameters that ask for one night (`snapshot_date`): an answer
    for a night older than the newest is kept by proxies for a day instead of a second.
    """
    policy = Policy(tuple(pinned_by))

    def mark(endpoint: F) -> F:
        setattr(endpoint, _POLICY, policy)
        return endpoint

    return mark


class SnapshotVersion:
    """The committed state of `appbuzz_runs`, re-read every `interval` seconds while asked.

    A reading older than `interval` starts the next one in a thread and is still used while
    that runs, up to `bound` seconds old; only past that do requests wait for the new reading.
    So requests do not stall on every check, and no answer rests on a reading older than
    `bound`: a commit is seen within `bound` plus one query.
    """

    def __init__(self, engine: Engine, interval: float = 0.5, bound: float = 0.9) -> None:
        self.engine = engine
        self.interval = interval
        self.bound = bound
        self.value: tuple[Hashable, date | None] | None = None
        self.read_at = -float("inf")
        self._reading: asyncio.Task[None] | None = None

    def read(self) -> tuple[Hashable, date | None] | None:
        """(version, newest snapshot date), or None when the database does not answer."""
        try:
            with self.engine.connect() as connection:
                if not inspect(connection).has_table(appbuzz_runs.name):
                    return ("empty",), None
                count, finished, newest = connection.execute(
                    select(
                        func.count(),
                        func.max(appbuzz_runs.c.finished_at),
                        func.max(appbuzz_runs.c.snapshot_date),
                    )
                ).one()
        except SQLAlchemyError:
            return None  # no caching then: the route itself answers 503
        return (count, str(finished), str(newest)), newest

    async def _refresh(self) -> None:
        started = time.monotonic()  # the reading is at least this recent
        try:
            self.value = await anyio.to_thread.run_sync(self.read)
            self.read_at = started if self.value is not None else -float("inf")
        finally:
            self._reading = None

    async def current(self) -> tuple[Hashable, date | None] | None:
        age = time.monotonic() - self.read_at
        if age < self.interval:
            return self.value
        reading = self._reading
        if reading is None:
            reading = self._reading = asyncio.ensure_future(self._refresh())
        if age < self.bound:
            return self.value  # recent enough while the next reading is made
        await asyncio.shield(reading)
        return self.value


@dataclass(frozen=True)
class Variant:
    """One encoding of an answer as ready-made ASGI messages (the server only reads them)."""

    start: Message
    body: Message
    not_modified: Message


@dataclass(frozen=True)
class Entry:
    """One rendered answer: its tag and how it is sent as it is or gzipped (when that pays)."""

    etag: bytes
    plain: Variant
    gzipped: Variant | None


_SKIPPED_HEADERS = {b"content-length", b"content-encoding", b"etag", b"cache-control", b"vary"}


def _variant(
    kept: list[tuple[bytes, bytes]], common: list[tuple[bytes, bytes]], etag: bytes, body: bytes,
    encoding: list[tuple[bytes, bytes]],
) -> Variant:  # fmt: skip
    length = [(b"content-length", str(len(body)).encode())]
    return Variant(
        start={"type": "http.response.start", "status": 200,
               "headers": [*kept, *common, (b"etag", etag), *encoding, *length]},
        body={"type": "http.response.body", "body": body},
        not_modified={"type": "http.response.start", "status": 304,
                      "headers": [*common, (b"etag", etag)]},
    )  # fmt: skip


def _entry(headers: list[tuple[bytes, bytes]], body: bytes, cache_control: bytes) -> Entry:
    etag = b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'
    kept = [(k, v) for k, v in headers if k.lower() not in _SKIPPED_HEADERS]
    gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    if gzipped is not None and len(gzipped) > len(body) * GZIP_MAX_RATIO:
        gzipped = None
    common = [(b"cache-control", cache_control)]
    if gzipped is None:
        return Entry(etag, _variant(kept, common, etag, body, []), None)
    common.append((b"vary", b"Accept-Encoding"))
    return Entry(
        etag,
        _variant(kept, common, etag, body, []),
        _variant(kept, common, etag[:-1] + b'-gz"', gzipped, [(b"content-encoding", b"gzip")]),
    )


def _accepts_gzip(value: bytes) -> bool:
    for part in value.split(b","):
        name, _, params = part.partition(b";")
        if name.strip().lower() not in (b"gzip", b"*"):
            continue
        q = params.strip().lower()
        if q.startswith(b"q="):
            try:
                return float(q[2:]) > 0
            except ValueError:
                return False
        return True
    return False


def _matches(if_none_match: bytes, entry: Entry) -> bool:
    """Weak comparison (RFC 9110 13.1.2): either encoding's tag names the same body."""
    for tag in if_none_match.split(b","):
        tag = tag.strip().removeprefix(b"W/")
        if tag == b"*" or tag == entry.etag or tag == entry.etag[:-1] + b'-gz"':
            return True
    return False


class ResponseCache:
    """ASGI middleware serving `@cached` routes' answers from memory while the version holds."""

    def __init__(self, app: ASGIApp, probe: SnapshotVersion) -> None:
        self.app = app
        self._probe = probe
        self._version: Hashable = None
        self._entries: dict[tuple[str, bytes], Entry] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        probe = self._probe
        if time.monotonic() - probe.read_at < probe.interval:
            state = probe.value  # the common case, without a coroutine
        else:
            state = await probe.current()
        if state is None:
            await self.app(scope, receive, send)
            return
        version, newest = state
        if version != self._version:
            self._entries = {}
            self._version = version
        key = (scope["path"], scope["query_string"])
        entry = self._entries.get(key)
        if entry is None:
            entry = await self._render(scope, receive, send, newest)
            if entry is None:
                return  # not cacheable: already sent as the route answered
            if self._version == version:
                if len(self._entries) >= MAX_ENTRIES:
                    del self._entries[next(iter(self._entries))]
                self._entries[key] = entry
        await _send(entry, scope, send)

    async def _render(
        self, scope: Scope, receive: Receive, send: Send, newest: date | None
    ) -> Entry | None:
        """Run the route; a `@cached` 200 comes back as an entry, anything else is sent on."""
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        policy: Policy | None = getattr(scope.get("endpoint"), _POLICY, None)
        start = messages[0] if messages else None
        if (
            policy is None
            or start is None
            or start["type"] != "http.response.start"
            or start["status"] != 200
            or any(m.get("more_body") for m in messages[1:-1])
        ):
            for message in messages:
                await send(message)
            return None
        body = b"".join(m.get("body", b"") for m in messages[1:])
        return _entry(list(start.get("headers", [])), body, _cache_control(policy, scope, newest))


def _cache_control(policy: Policy, scope: Scope, newest: date | None) -> bytes:
    if policy.pinned_by and newest is not None:
        query = parse_qs(scope["query_string"].decode("latin-1"))
        for name in policy.pinned_by:
            values = query.get(name)
            if values and values[-1] < newest.isoformat():  # validated as YYYY-MM-DD already
                return b"public, max-age=%d" % PINNED_MAX_AGE
    return b"public, max-age=%d" % LATEST_MAX_AGE


_EMPTY: Message = {"type": "http.response.body", "body": b""}


async def _send(entry: Entry, scope: Scope, send: Send) -> None:
    accept_encoding = if_none_match = None
    for key, value in scope["headers"]:
        if key == b"accept-encoding":
            accept_encoding = value
        elif key == b"if-none-match":
            if_none_match = value
    variant = entry.plain
    if entry.gzipped is not None and accept_encoding is not None and _accepts_gzip(accept_encoding):
        variant = entry.gzipped
    if if_none_match is not None and _matches(if_none_match, entry):
        await send(variant.not_modified)
        await send(_EMPTY)
        return
    await send(variant.start)
    await send(variant.body)
