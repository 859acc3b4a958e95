"""A thread-safe gate that spends each X API rate-limit window and waits for the next one.

The X API reports its window on every response: `x-rate-limit-limit` (requests per window),
`x-rate-limit-remaining` and `x-rate-limit-reset` (epoch seconds, a whole number). Some replies
also carry a daily window, `x-app-limit-24hour-limit/remaining/reset`: when they do, the gate
honours it as well (a request waits for whichever window is tighter); when they do not, nothing
changes. The reset is rounded, so a request sent inside the reset second may still be refused:
the gate sends the next window's first request once that second has passed (plus a small margin
for clock skew), never earlier, and never much later either (a late start wastes window time).

Per endpoint and window, the gate counts what this process sent and trusts the server's
`remaining` whenever it is lower (someone else uses the same token). While the limit is unknown
(the first request of a run), one request probes it before the others follow.

The clock and the waiting are injected (`clock`, `wait`), so tests drive the gate on a fake
clock; `on_wait` hears of every wait once per window reset (for the logs and the progress).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from transforms.errors import GateClosed, RateLimitWaitTooLong

PAUSE_AFTER_REFUSAL = 1.0  # a 429 whose reset has already passed by our clock: pause this long
PROBE_WAIT = 1.0  # how long to look again while a probe or a reply is awaited
# the windows a reply may report: (name for people, header prefix)
WINDOWS = (("", "x-rate-limit"), ("24-hour", "x-app-limit-24hour"))


@dataclass(frozen=True)
class WaitNotice:
    """The gate holds requests to `endpoint` until `until` (epoch seconds) for `window`."""

    endpoint: str
    window: str  # "" for the rate-limit window, "24-hour" for the daily one
    seconds: float
    until: float

    def __str__(self) -> str:
        minutes, seconds = divmod(round(self.seconds), 60)
        name = self.endpoint.rstrip("/").rsplit("/", 2)[-2]  # /2/tweets/counts/recent -> counts
        resets = datetime.fromtimestamp(self.until, UTC)
        window = f"{name} {self.window}".strip()
        return (
            f"waiting {minutes}:{seconds:02d} for the {window} window, resets {resets:%H:%M:%S} UTC"
        )


@dataclass
class _Window:
    limit: int | None = None
    reset: int | None = None  # reported reset of the window being spent; None: not yet known
    passed_reset: int = 0  # the newest reset already waited out; replies carrying it are stale
    used: int = 0
    blocked_until: float = 0.0
    announced: float = 0.0  # the end of the last wait told to `on_wait`


@dataclass
class _Endpoint:
    windows: dict[str, _Window] = field(default_factory=dict)  # by header prefix
    in_flight: int = 0
    unmetered: bool = False  # replies carry no rate-limit headers (a gateway strips them)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


def _condition_wait(condition: threading.Condition, seconds: float) -> None:
    condition.wait(timeout=seconds)


@dataclass(frozen=True)
class Budget:
    """What is left of an endpoint's window: the server's report, less what was sent since."""

    remaining: int | None = None  # None: no reply has reported the window yet
    limit: int | None = None
    reset: int | None = None  # epoch seconds

    def __str__(self) -> str:
        if self.remaining is None or self.limit is None:
            return "rate-limit budget not reported"
        text = f"{self.remaining}/{self.limit} requests left in the rate-limit window"
        if self.reset is not None:
            text += f" (resets {datetime.fromtimestamp(self.reset, UTC):%H:%M:%S} UTC)"
        return text


@dataclass
class RateGate:
    """Admit requests per endpoint so that none is sent into a spent window."""

    margin: float = 0.25
    max_wait: float = 960.0
    clock: Callable[[], float] = time.time
    # how to wait on the gate's condition for at most `seconds` (woken early by replies)
    wait: Callable[[threading.Condition, float], None] = _condition_wait
    on_wait: Callable[[WaitNotice], None] | None = None
    _endpoints: dict[str, _Endpoint] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def _endpoint(self, endpoint: str) -> _Endpoint:
        state = self._endpoints.setdefault(endpoint, _Endpoint())
        state.windows.setdefault(WINDOWS[0][1], _Window())
        return state

    def acquire(self, endpoint: str) -> None:
        """Block until a request to `endpoint` may be sent, then count it as sent."""
        with self._cond:
            state = self._endpoint(endpoint)
            while True:
                if self._closed:
                    raise GateClosed("enrichment stopped")
                now = self.clock()
                waits = []
                for prefix, window in state.windows.items():
                    if window.reset is not None and now >= window.reset + 1 + self.margin:
                        window.passed_reset, window.reset, window.used = window.reset, None, 0
                    waits.append((self._wait_needed(state, window, now), prefix, window))
                wait, prefix, window = max(waits, key=lambda item: item[0])
                if wait == 0.0:
                    for each in state.windows.values():
                        each.used += 1
                    state.in_flight += 1
                    return
                if wait > self.max_wait:
                    raise RateLimitWaitTooLong(
                        f"the X API rate limit resets in {wait:.0f} s, more than the "
                        f"{self.max_wait:.0f} s allowed (APPBUZZ_X_MAX_RATE_WAIT_SECONDS)"
                    )
                self._announce(endpoint, prefix, window, wait, now)
                self.wait(self._cond, wait)

    def _announce(
        self, endpoint: str, prefix: str, window: _Window, wait: float, now: float
    ) -> None:
        """Tell `on_wait` of a wait for a window's reset, once per reset (not per waiter)."""
        until = now + wait
        if self.on_wait is None or wait <= PROBE_WAIT or until <= window.announced + 1:
            return
        window.announced = until
        name = dict((p, n) for n, p in WINDOWS)[prefix]
        self.on_wait(WaitNotice(endpoint, name, wait, until))

    def _wait_needed(self, state: _Endpoint, window: _Window, now: float) -> float:
        """0 when a request may go now; otherwise how long to wait before looking again."""
        if now < window.blocked_until:
            return window.blocked_until - now
        if window.limit is None:  # unknown limit: one probe at a time
            return 0.0 if state.unmetered or state.in_flight == 0 else PROBE_WAIT
        if window.used < window.limit:
            return 0.0
        if window.reset is None:  # spent, reset not reported yet: a reply will tell
            return PROBE_WAIT
        return window.reset + 1 + self.margin - now

    def observe(self, endpoint: str, status: int | None, headers: Mapping[str, str]) -> None:
        """Account for a finished request (`status` None: no reply) with the reply's headers."""
        with self._cond:
            state = self._endpoint(endpoint)
            state.in_flight = max(0, state.in_flight - 1)
            for _name, prefix in WINDOWS:
                limit = _header_int(headers, f"{prefix}-limit")
                remaining = _header_int(headers, f"{prefix}-remaining")
                reset = _header_int(headers, f"{prefix}-reset")
                if prefix not in state.windows and limit is None:
                    continue  # a daily window only exists once a reply reports it
                window = state.windows.setdefault(prefix, _Window())
                if limit is not None and limit > 0:
                    window.limit = limit
                elif status is not None and window.limit is None and prefix == WINDOWS[0][1]:
                    state.unmetered = True
                spent = remaining == 0 or prefix == WINDOWS[0][1]
                if status == 429 and spent:
                    self._refused(window, reset)
                elif reset is not None and remaining is not None and reset > window.passed_reset:
                    self._update(window, reset, remaining)
            self._cond.notify_all()

    def _update(self, window: _Window, reset: int, remaining: int) -> None:
        reported_used = (window.limit or 0) - remaining
        if window.reset is None or reset == window.reset:
            window.reset = reset
            window.used = max(window.used, reported_used)
        elif reset > window.reset:  # the server began a new window before we expected
            window.reset = reset
            window.used = max(reported_used, 0)

    def _refused(self, window: _Window, reset: int | None) -> None:
        now = self.clock()
        if reset is not None:
            window.reset = max(reset, window.reset or 0)
        window.used = max(window.used, window.limit or 1)
        window.limit = window.limit or 1
        until = window.reset + 1 + self.margin if window.reset is not None else 0.0
        window.blocked_until = max(window.blocked_until, until, now + PAUSE_AFTER_REFUSAL)

    def budget(self, endpoint: str) -> Budget:
        """For the logs: requests this process may still send to `endpoint` in this window."""
        with self._cond:
            state = self._endpoints.get(endpoint)
            window = state.windows.get(WINDOWS[0][1]) if state else None
            if state is None or window is None or window.limit is None or state.unmetered:
                return Budget()
            return Budget(max(0, window.limit - window.used), window.limit, window.reset)

    def release(self, endpoint: str) -> None:
        """A request that was admitted but never sent: give its place back."""
        with self._cond:
            state = self._endpoint(endpoint)
            state.in_flight = max(0, state.in_flight - 1)
            for window in state.windows.values():
                window.used = max(0, window.used - 1)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter with `GateClosed`: nothing more will be sent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
