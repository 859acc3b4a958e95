"""A thread-safe gate that spends each X API rate-limit window and waits for the next one.

The X API reports its window on every response: `x-rate-limit-limit` (requests per window),
`x-rate-limit-remaining` and `x-rate-limit-reset` (epoch seconds, a whole number). The reset is
rounded, so a request sent inside the reset second may still be refused: the gate sends the next
window's first request once that second has passed (plus a small margin for clock skew), never
earlier, and never much later either (a late start wastes window time).

Per endpoint, the gate counts what this process sent in the current window and trusts the
server's `remaining` whenever it is lower (someone else uses the same token). While the limit is
unknown (the first request of a run), one request probes it before the others follow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

PAUSE_AFTER_REFUSAL = 1.0  # a 429 whose reset has already passed by our clock: pause this long


class RateLimitWaitTooLong(RuntimeError):
    """The window resets later than the caller is willing to wait."""


class GateClosed(RuntimeError):
    """The gate was closed (enrichment aborted) while a request waited for its turn."""


@dataclass
class _Window:
    limit: int | None = None
    reset: int | None = None  # reported reset of the window being spent; None: not yet known
    passed_reset: int = 0  # the newest reset already waited out; replies carrying it are stale
    used: int = 0
    in_flight: int = 0
    blocked_until: float = 0.0
    unmetered: bool = False  # replies carry no rate-limit headers (a gateway strips them)


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, TypeError, ValueError):
        return None


@dataclass
class RateGate:
    """Admit requests per endpoint so that none is sent into a spent window."""

    margin: float = 0.25
    max_wait: float = 960.0
    clock: Callable[[], float] = time.time
    _windows: dict[str, _Window] = field(default_factory=dict)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _closed: bool = False

    def acquire(self, endpoint: str) -> None:
        """Block until a request to `endpoint` may be sent, then count it as sent."""
        with self._cond:
            window = self._windows.setdefault(endpoint, _Window())
            while True:
                if self._closed:
                    raise GateClosed("enrichment stopped")
                now = self.clock()
                if window.reset is not None and now >= window.reset + 1 + self.margin:
                    window.passed_reset, window.reset, window.used = window.reset, None, 0
                wait = self._wait_needed(window, now)
                if wait == 0.0:
                    window.used += 1
                    window.in_flight += 1
                    return
                if wait > self.max_wait:
                    raise RateLimitWaitTooLong(
                        f"the X API rate limit resets in {wait:.0f} s, more than the "
                        f"{self.max_wait:.0f} s allowed (APPBUZZ_X_MAX_RATE_WAIT_SECONDS)"
                    )
                self._cond.wait(timeout=wait)

    def _wait_needed(self, window: _Window, now: float) -> float:
        """0 when a request may go now; otherwise how long to wait before looking again."""
        if now < window.blocked_until:
            return window.blocked_until - now
        if window.limit is None:  # unknown limit: one probe at a time
            return 0.0 if window.unmetered or window.in_flight == 0 else 1.0
        if window.used < window.limit:
            return 0.0
        if window.reset is None:  # spent, reset not reported yet: a reply will tell
            return 1.0
        return window.reset + 1 + self.margin - now

    def observe(self, endpoint: str, status: int | None, headers: Mapping[str, str]) -> None:
        """Account for a finished request (`status` None: no reply) with the reply's headers."""
        with self._cond:
            window = self._windows.setdefault(endpoint, _Window())
            window.in_flight = max(0, window.in_flight - 1)
            limit = _header_int(headers, "x-rate-limit-limit")
            remaining = _header_int(headers, "x-rate-limit-remaining")
            reset = _header_int(headers, "x-rate-limit-reset")
            if limit is not None and limit > 0:
                window.limit = limit
            elif status is not None and window.limit is None:
                window.unmetered = True
            if status == 429:
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

    def release(self, endpoint: str) -> None:
        """A request that was admitted but never sent: give its place back."""
        with self._cond:
            window = self._windows.setdefault(endpoint, _Window())
            window.in_flight = max(0, window.in_flight - 1)
            window.used = max(0, window.used - 1)
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter with `GateClosed`: nothing more will be sent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
