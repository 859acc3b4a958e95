"""A loopback fake of the three X API v2 endpoints appbuzz uses, over real HTTP.

It behaves like the service as documented in `../shared/docs/x-api-v2.md`, not like the client
would wish: bearer-token auth (401), per-endpoint fixed rate-limit windows reported on every
response (`x-rate-limit-limit/remaining/reset`, the reset a whole number of epoch seconds rounded
down, so a request inside the reset second is still refused; no `Retry-After`), the documented
JSON shapes, pagination with `next_token`, 400s for invalid parameters, and scriptable faults
(any status, slow replies, malformed JSON, dropped connections). Totals are a deterministic
function of the query, so a test can compute what a correct client must report.

It records every request (when it started and ended, what it asked, what it got) and the most
requests it ever had in flight at once. It bills as pay-per-use X does (every `counts/recent`
request answered, every post `search/recent` returns), can run out of the account's cap after a
number of answered requests (a usage-capped 429 or a 402 until `lift_cap`), and can report a
daily window (`x-app-limit-24hour-*`) on top of the 15-minute one.

Mentions come per UTC day with a weekly rhythm (each query's weekends busier by its own factor)
and a deterministic day-to-day wobble: `counts/recent` spreads the query's fixed 7-day total over
its day buckets by how much of each day they cover (the first and last are partial), the posts
of `search/recent` are spread the same way over the window (their `created_at` when asked), and
`counts/all` (the full archive, pay-per-use, 31 day buckets a page) gives each past day its
level, about a seventh of that total shaped the same way. A test can make a day spike
(`spike_day`) or the account lack archive access (`archive_access`: a 403 as on a Basic plan).
What each counts reply showed per day is kept (`days_served`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qs, urlsplit

COUNTS = "/2/tweets/counts/recent"
SEARCH = "/2/tweets/search/recent"
ARCHIVE = "/2/tweets/counts/all"
ENDPOINTS = (COUNTS, SEARCH, ARCHIVE)
DEFAULT_LIMITS = {COUNTS: 300, SEARCH: 450, ARCHIVE: 300}
ARCHIVE_PAGE_DAYS = 31
ONE_DAY = timedelta(days=1)
FIRST_ID = 1_861_000_000_000_000_000
_GRANULARITY = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
}


@dataclass(frozen=True)
class Recorded:
    started: float
    finished: float
    path: str
    params: dict[str, str]
    authorization: str | None
    status: int | None  # None: the connection was dropped without a reply

    @property
    def query(self) -> str | None:
        return self.params.get("query")


@dataclass
class Fault:
    """Applies to the next `times` matching requests, after skipping `after` of them."""

    kind: str  # "status", "slow", "malformed", "drop"
    status: int = 503
    seconds: float = 0.0
    query: str | None = None
    endpoint: str | None = None
    times: int = 1
    after: int = 0

    def matches(self, path: str, query: str | None) -> bool:
        return (self.endpoint in (None, path)) and (self.query in (None, query))


@dataclass
class _Window:
    start: float
    used: int = 0


@dataclass
class FakeXApi:
    token: str = "fake-token"
    limits: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    window_seconds: float = 900.0
    latency: float = 0.0
    totals: dict[str, int] = field(default_factory=dict)
    max_total: int = 450
    path_prefix: str = ""  # serve under a prefix, as a gateway would (`/x` + `/2/...`)
    # the account is spent after this many answered requests: `cap_status` (429 or 402) follows
    cap_after: int | None = None
    cap_status: int = 429
    # a daily window reported (and enforced) on every reply, when set
    daily_limit: int | None = None
    daily_window_seconds: float = 86_400.0
    # False: the plan has no full-archive counts (counts/all answers 403 client-forbidden)
    archive_access: bool = True
    # what time it is for the service (a test can run nights of the past)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # per query, its mentions on each whole day: then counts/recent sums the days its buckets
    # cover (a partial bucket its share) instead of spreading a fixed total
    daily: dict[str, Callable[[date], int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._windows: dict[str, _Window] = {}
        self._daily: dict[str, _Window] = {}
        self.billed_requests = 0  # counts/recent requests answered
        self.billed_archive_requests = 0  # counts/all requests answered
        self.billed_posts = 0  # posts returned by search/recent
        self._spikes: dict[tuple[str, date], float] = {}
        self._days_served: dict[str, dict[date, tuple[int, bool]]] = {}
        self._totals_served: dict[str, int] = {}
        self.answered = 0  # requests answered 200, both endpoints (what the cap counts)
        self._records: list[Recorded] = []
        self._in_flight = 0
        self.max_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- configuration ------------------------------------------------------------------
    def set_rate_limit(self, limit: int, window_seconds: float) -> None:
        """The same limit for both endpoints, windows of `window_seconds`."""
        with self._lock:
            self.limits = dict.fromkeys(ENDPOINTS, limit)
            self.window_seconds = window_seconds
            self._windows.clear()

    def script(self, kind: str, **options: Any) -> Fault:
        fault = Fault(kind=kind, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """No scripted fault applies any more (requests already held by one stay held)."""
        with self._lock:
            for fault in self._faults:
                fault.times = 0

    def lift_cap(self) -> None:
        """The account is topped up (or the month turned): requests succeed again."""
        with self._lock:
            self.cap_after = None

    def cost(self, per_request: Any, per_post: Any, per_archive_request: Any = 0) -> Any:
        """What this account was billed so far at these prices (Decimal in, Decimal out)."""
        with self._lock:
            return (
                per_request * self.billed_requests
                + per_post * self.billed_posts
                + per_archive_request * self.billed_archive_requests
            )

    def spike_day(self, query: str, day: date, factor: float) -> None:
        """Make `query`'s mentions on `day` `factor` times their usual share or level."""
        with self._lock:
            self._spikes[(query, day)] = factor

    def total_served(self, query: str) -> int | None:
        """The 7-day total the newest counts/recent reply for `query` gave."""
        with self._lock:
            return self._totals_served.get(query)

    def days_served(self, query: str) -> dict[date, tuple[int, bool]]:
        """Per UTC day, the count the newest counts reply for `query` showed, and whether that
        bucket covered the whole day (a whole day is never replaced by a partial one)."""
        with self._lock:
            return dict(self._days_served.get(query, {}))

    def weight(self, query: str, day: date) -> float:
        """How busy `query` is on `day`, relative to its usual weekday: the weekly rhythm, a
        wobble of a few percent, and any scripted spike."""
        digest = hashlib.sha256(f"{query}|rhythm".encode()).digest()
        weekend = 1.0 + digest[0] / 255 * 1.5 if day.weekday() >= 5 else 1.0
        wobble = hashlib.sha256(f"{query}|{day.isoformat()}".encode()).digest()[0] / 255
        return weekend * (0.92 + 0.16 * wobble) * self._spikes.get((query, day), 1.0)

    def level(self, query: str, day: date) -> int:
        """`query`'s mentions on a whole `day`: its `daily` count if given, else a seventh of its
        7-day total, as busy as `weight` says."""
        if query in self.daily:
            return round(self.daily[query](day) * self._spikes.get((query, day), 1.0))
        return round(self.total_for(query) / 7 * self.weight(query, day))

    def total_for(self, query: str) -> int:
        """How many posts match `query` over the last 7 days: fixed per query."""
        if query in self.totals:
            return self.totals[query]
        digest = hashlib.sha256(query.encode("utf-8")).digest()
        return int.from_bytes(digest[:4], "big") % (self.max_total + 1)

    # --- what happened ------------------------------------------------------------------
    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return sorted(self._records, key=lambda r: r.started)

    @property
    def in_flight(self) -> int:
        """Requests received and not yet answered (a slow reply, a hung one)."""
        with self._lock:
            return self._in_flight

    def requests_for(self, query: str) -> list[Recorded]:
        return [r for r in self.requests if r.query == query]

    def statuses(self) -> list[int | None]:
        return [r.status for r in self.requests]

    def reset_records(self) -> None:
        with self._lock:
            self._records.clear()
            self.max_in_flight = 0

    # --- lifecycle ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.path_prefix}"

    def start(self) -> FakeXApi:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True, name="fake-x"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeXApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the service --------------------------------------------------------------------
    def _rate(self, path: str, now: float, consume: bool) -> tuple[bool, dict[str, str]]:
        """Admit or refuse against the endpoint's window; the headers to send either way."""
        limit = self.limits.get(path, 300)
        window = self._windows.get(path)
        if window is None or now >= window.start + self.window_seconds:
            window = self._windows[path] = _Window(start=now)
        allowed = window.used < limit
        if allowed and consume:
            window.used += 1
        headers = {
            "x-rate-limit-limit": str(limit),
            "x-rate-limit-remaining": str(max(0, limit - window.used)),
            # the true end rounded down: until that second has passed, a request may be refused
            "x-rate-limit-reset": str(int(window.start + self.window_seconds)),
        }
        return allowed, headers

    def _next_fault(self, path: str, query: str | None) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.matches(path, query):
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.times -= 1
                return fault
        return None

    def decide(
        self, path: str, params: dict[str, str], authorization: str | None
    ) -> tuple[int, dict[str, str], Any, Fault | None]:
        """Status, headers, JSON body (or raw bytes) and the fault applied, at arrival."""
        now = time.time()
        with self._lock:
            if path not in ENDPOINTS:
                _, headers = self._rate(path, now, consume=False)
                return 404, headers, _problem(404, "Not Found"), None
            if authorization != f"Bearer {self.token}":
                _, headers = self._rate(path, now, consume=False)
                return 401, headers, _problem(401, "Unauthorized"), None
            if self.cap_after is not None and self.answered >= self.cap_after:
                _, headers = self._rate(path, now, consume=True)
                return self.cap_status, headers, _spent(self.cap_status), None
            allowed, headers = self._rate(path, now, consume=True)
            daily_allowed = self._rate_daily(path, now, headers)
            if not allowed or not daily_allowed:
                return 429, headers, _problem(429, "Too Many Requests"), None
            fault = self._next_fault(path, params.get("query"))
        if fault is not None and fault.kind == "status":
            if fault.status == 429:
                headers["x-rate-limit-remaining"] = "0"
            if fault.status == 400:
                return 400, headers, _invalid("query", "scripted: invalid query"), fault
            return fault.status, headers, _problem(fault.status, _REASONS[fault.status]), fault
        if fault is not None and fault.kind == "malformed":
            return 200, headers, b'{"data": [{"id": "1", "text": "cut', fault
        if path == ARCHIVE and not self.archive_access:
            return 403, headers, _archive_forbidden(), None
        status, body = self._serve(path, params)
        if status == 200:
            with self._lock:
                self.answered += 1
                if path == COUNTS:
                    self.billed_requests += 1
                elif path == ARCHIVE:
                    self.billed_archive_requests += 1
                else:
                    self.billed_posts += len(body.get("data", []))
        return status, headers, body, fault

    def _rate_daily(self, path: str, now: float, headers: dict[str, str]) -> bool:
        """The daily window, when configured: consumed with the 15-minute one, its headers added."""
        if self.daily_limit is None:
            return True
        window = self._daily.get(path)
        if window is None or now >= window.start + self.daily_window_seconds:
            window = self._daily[path] = _Window(start=now)
        allowed = window.used < self.daily_limit
        if allowed:
            window.used += 1
        headers["x-app-limit-24hour-limit"] = str(self.daily_limit)
        headers["x-app-limit-24hour-remaining"] = str(max(0, self.daily_limit - window.used))
        headers["x-app-limit-24hour-reset"] = str(int(window.start + self.daily_window_seconds))
        return allowed

    def _serve(self, path: str, params: dict[str, str]) -> tuple[int, Any]:
        query = params.get("query")
        if not query:
            return 400, _invalid("query", "The `query` query parameter can not be empty")
        if len(query) > 512:
            return 400, _invalid(
                "query", f"The `query` query parameter can not be longer than 512 characters"
                f" (got {len(query)})"
            )  # fmt: skip
        if query.count('"') % 2:
            return 400, _invalid(
                "query", "There were errors processing your request: Unterminated quoted phrase"
            )
        total = self.total_for(query)
        if path == COUNTS:
            return self._counts(params, query, total)
        if path == ARCHIVE:
            return self._archive(params, query)
        return self._search(params, query, total)

    def _window(self, step: timedelta) -> list[datetime]:
        """The edges of `counts/recent`'s buckets: the last 7 days up to 10 s ago."""
        end = self.clock().replace(microsecond=0) - timedelta(seconds=10)
        start = end - timedelta(days=7)
        edges = [start]
        boundary = _floor(start, step) + step
        while boundary < end:
            edges.append(boundary)
            boundary += step
        edges.append(end)
        return edges

    def _spread(self, query: str, total: int, edges: list[datetime]) -> list[int]:
        """`total` over the buckets between `edges`, by how long each is and how busy its day."""
        weights = [
            (b - a).total_seconds() * self.weight(query, a.date()) for a, b in pairwise(edges)
        ]
        return _largest_remainder(total, weights)

    def _counts(self, params: dict[str, str], query: str, total: int) -> tuple[int, Any]:
        step = _GRANULARITY.get(params.get("granularity", "hour"))
        if step is None:
            return 400, _invalid("granularity", "granularity must be minute, hour or day")
        edges = self._window(step)
        if query in self.daily:  # each bucket's share of its day's count
            counts = [
                round(self.level(query, a.date()) * (b - a) / ONE_DAY) for a, b in pairwise(edges)
            ]
            total = sum(counts)
        else:
            counts = self._spread(query, total, edges)
        data = [
            {"start": _iso(a), "end": _iso(b), "tweet_count": n}
            for a, b, n in zip(edges, edges[1:], counts, strict=False)
        ]
        with self._lock:
            self._totals_served[query] = total
        if step == ONE_DAY:
            self._served(
                query, [(a, b, n) for a, b, n in zip(edges, edges[1:], counts, strict=False)]
            )
        return 200, {"data": data, "meta": {"total_tweet_count": total}}

    def _served(self, query: str, buckets: list[tuple[datetime, datetime, int]]) -> None:
        with self._lock:
            shown = self._days_served.setdefault(query, {})
            for start, end, n in buckets:
                whole = start == _floor(start, ONE_DAY) and end - start == ONE_DAY
                if whole or not shown.get(start.date(), (0, False))[1]:
                    shown[start.date()] = (n, whole)

    def _archive(self, params: dict[str, str], query: str) -> tuple[int, Any]:
        if params.get("granularity", "hour") != "day":
            return 400, _invalid("granularity", "this fake serves counts/all by day only")
        try:
            end = _parse_iso(params["end_time"]) if "end_time" in params else None
            end = end or _floor(self.clock(), ONE_DAY)
            start = _parse_iso(params["start_time"]) if "start_time" in params else None
            start = start or end - timedelta(days=30)
        except ValueError:
            return 400, _invalid("start_time", "start_time and end_time must be ISO 8601")
        if start >= end or end > self.clock():
            return 400, _invalid("end_time", "end_time must be after start_time and not future")
        first = start
        if "next_token" in params:
            first = _decode_time_token(params["next_token"], query)
            if first is None or not start <= first < end:
                return 400, _invalid("next_token", "The `next_token` is not valid")
        last = min(end, first + ARCHIVE_PAGE_DAYS * ONE_DAY)
        data, day = [], first
        while day < last:
            data.append({"start": _iso(day), "end": _iso(day + ONE_DAY),
                         "tweet_count": self.level(query, day.date())})  # fmt: skip
            day += ONE_DAY
        meta: dict[str, Any] = {"total_tweet_count": sum(b["tweet_count"] for b in data)}
        if last < end:
            meta["next_token"] = _encode_time_token(last, query)
        return 200, {"data": data, "meta": meta}

    def _search(self, params: dict[str, str], query: str, total: int) -> tuple[int, Any]:
        try:
            size = int(params.get("max_results", "10"))
        except ValueError:
            size = 0
        if not 10 <= size <= 100:
            return 400, _invalid("max_results", "max_results must be between 10 and 100")
        offset = 0
        if "next_token" in params:
            offset = _decode_token(params["next_token"], query)
            if offset is None:
                return 400, _invalid("next_token", "The `next_token` is not valid")
        if total == 0:
            return 200, {"meta": {"result_count": 0}}
        span = range(offset, min(total, offset + size))
        ids = [str(FIRST_ID + total - i) for i in span]
        meta: dict[str, Any] = {"newest_id": ids[0], "oldest_id": ids[-1], "result_count": len(ids)}
        if offset + size < total:
            meta["next_token"] = _encode_token(offset + size, query)
        times = self._post_times(query, total)
        fields = set(params.get("tweet.fields", "").split(","))
        data = [
            {"id": i, "text": f"post {i} about {query}", "edit_history_tweet_ids": [i]}
            | ({"created_at": _iso(times[n])} if "created_at" in fields else {})
            for i, n in zip(ids, span, strict=True)
        ]
        return 200, {"data": data, "meta": meta}

    def _post_times(self, query: str, total: int) -> list[datetime]:
        """When each of the query's posts in the window was made, newest first: spread over the
        window's days as the counts are, evenly within each day's share."""
        edges = self._window(timedelta(days=1))
        times: list[datetime] = []
        for a, b, n in zip(edges, edges[1:], self._spread(query, total, edges), strict=False):
            times += [a + (b - a) * (k + 0.5) / n for k in range(n)]
        return sorted(times, reverse=True)

    def enter(self) -> float:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        return time.time()

    def leave(self, record: Recorded) -> None:
        with self._lock:
            self._in_flight -= 1
            self._records.append(record)


_REASONS = {
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden", 404: "Not Found",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}  # fmt: skip


def _problem(status: int, title: str) -> dict[str, Any]:
    return {"title": title, "detail": title, "type": "about:blank", "status": status}


def _spent(status: int) -> dict[str, Any]:
    """The bodies X sends when the account is spent (usage cap seen in February 2026; 402)."""
    if status == 402:
        return _problem(402, "Payment Required")
    return {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
        "period": "Monthly",
        "scope": "Product",
        "product_name": "fake",
        "account_id": 1,
    }


def _archive_forbidden() -> dict[str, Any]:
    """What a plan without the full archive gets from counts/all (Basic, in 2026)."""
    return {
        "client_id": "1",
        "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use "
        "keys and tokens from a Twitter developer App that is attached to a Project. You can "
        "create a project via the developer portal.",
        "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
        "title": "Client Forbidden",
        "required_enrollment": "Appropriate Level of API Access",
        "reason": "client-not-enrolled",
        "type": "https://api.twitter.com/2/problems/client-forbidden",
    }


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights`, whole numbers that add up to it exactly."""
    whole = sum(weights) or 1.0
    shares = [total * w / whole for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _encode_time_token(moment: datetime, query: str) -> str:
    return f"{int(moment.timestamp()):x}t{_token_tag(query)}"


def _decode_time_token(token: str, query: str) -> datetime | None:
    head, _, tag = token.partition("t")
    try:
        moment = datetime.fromtimestamp(int(head, 16), UTC)
    except ValueError:
        return None
    return moment if tag == _token_tag(query) else None


def _invalid(parameter: str, message: str) -> dict[str, Any]:
    return {
        "errors": [{"parameters": {parameter: ["<value>"]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _floor(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (moment - epoch) // step * step


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _token_tag(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()[:10]


def _encode_token(offset: int, query: str) -> str:
    return f"{offset:x}z{_token_tag(query)}"


def _decode_token(token: str, query: str) -> int | None:
    head, _, tag = token.partition("z")
    try:
        offset = int(head, 16)
    except ValueError:
        return None
    return offset if tag == _token_tag(query) else None


def _handler_for(fake: FakeXApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "fake-x-api"

        def do_GET(self) -> None:
            started = fake.enter()
            parts = urlsplit(self.path)
            path = parts.path
            if fake.path_prefix:
                prefixed = path.startswith(fake.path_prefix + "/")
                path = path[len(fake.path_prefix) :] if prefixed else "/not-under-prefix"
            params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            authorization = self.headers.get("Authorization")
            status: int | None = None
            left = False

            def leave() -> None:
                # recorded (and out of flight) before the reply is written: a client that has
                # its reply always finds its request here
                nonlocal left
                if not left:
                    left = True
                    fake.leave(Recorded(started, time.time(), path, params, authorization, status))

            try:
                status, headers, body, fault = fake.decide(path, params, authorization)
                delay = fake.latency + (fault.seconds if fault and fault.kind == "slow" else 0)
                if delay:
                    time.sleep(delay)
                if fault is not None and fault.kind == "drop":
                    status = None
                    leave()
                    self.close_connection = True
                    return
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                leave()
                self.send_response(status, _REASONS.get(status))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (its timeout) first
            finally:
                leave()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(**options: Any) -> Iterator[FakeXApi]:
    """Run a fake for the duration of a `with`/fixture: `yield from serve(...)`."""
    fake = FakeXApi(**options).start()
    try:
        yield fake
    finally:
        fake.stop()
