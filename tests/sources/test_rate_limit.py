"""The rate gate on its own, on a fake clock: when it admits a request, for how long it waits,
and when it refuses to wait. Nothing here sleeps; waits are recorded, not timed."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from sources.rate_limit import RateGate, WaitNotice
from transforms.errors import GateClosed, RateLimitWaitTooLong

EP = "/2/tweets/counts/recent"
T0 = 1_800_000_000.0


class FakeClock:
    """Time that moves only when the gate waits; `then` runs once, at the first wait, as if a
    reply had arrived meanwhile (the gate's condition is re-entrant, so it may call `observe`)."""

    def __init__(self) -> None:
        self.now = T0
        self.waits: list[float] = []
        self.then: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def wait(self, _condition: threading.Condition, seconds: float) -> None:
        assert len(self.waits) < 1000, "the gate waits forever"
        self.waits.append(seconds)
        self.now += seconds
        then, self.then = self.then, None
        if then is not None:
            then()


def make_gate(**options) -> tuple[RateGate, FakeClock]:
    clock = FakeClock()
    options.setdefault("margin", 0.05)
    return RateGate(clock=clock, wait=clock.wait, **options), clock


def headers(limit: int, remaining: int, reset: float, prefix: str = "x-rate-limit") -> dict:
    return {
        f"{prefix}-limit": str(limit),
        f"{prefix}-remaining": str(remaining),
        f"{prefix}-reset": str(int(reset)),
    }


def test_a_spent_window_waits_until_the_reset_second_has_passed() -> None:
    gate, clock = make_gate()
    reset = int(T0) + 30
    gate.acquire(EP)
    gate.observe(EP, 200, headers(2, 1, reset))
    gate.acquire(EP)  # the last place of the window
    gate.observe(EP, 200, headers(2, 0, reset))
    assert clock.waits == []
    gate.acquire(EP)
    assert clock.now == pytest.approx(reset + 1 + 0.05)
    assert len(clock.waits) == 1  # one wait, to the reset second plus the margin


def test_the_first_request_probes_alone_while_the_limit_is_unknown() -> None:
    gate, clock = make_gate()
    gate.acquire(EP)
    clock.then = lambda: gate.observe(EP, 200, headers(10, 9, T0 + 60))
    gate.acquire(EP)  # held back until the probe's reply tells the limit
    assert clock.waits == [1.0]
    gate.acquire(EP)
    assert clock.waits == [1.0]  # the limit is known: no more waiting


def test_the_servers_remaining_wins_when_it_is_lower() -> None:
    gate, clock = make_gate(max_wait=20.0)
    gate.acquire(EP)
    gate.observe(EP, 200, headers(100, 0, T0 + 30))  # someone else spent it
    with pytest.raises(RateLimitWaitTooLong, match="APPBUZZ_X_MAX_RATE_WAIT_SECONDS"):
        gate.acquire(EP)
    assert clock.waits == []  # refused without waiting


def test_a_refusal_blocks_until_its_reset_and_replies_from_a_past_window_are_ignored() -> None:
    gate, clock = make_gate()
    gate.acquire(EP)
    gate.observe(EP, 200, headers(5, 4, T0 - 5))  # a window long gone
    reset = int(T0) + 10
    gate.acquire(EP)
    gate.observe(EP, 429, headers(5, 0, reset))
    gate.acquire(EP)
    assert clock.now == pytest.approx(reset + 1 + 0.05)
    gate.observe(EP, 200, headers(5, 4, reset))  # late reply from the window just waited out
    waited = len(clock.waits)
    for _ in range(4):  # the new window's places are all there
        gate.acquire(EP)
    assert len(clock.waits) == waited


def test_endpoints_have_windows_of_their_own() -> None:
    gate, clock = make_gate(max_wait=5.0)
    gate.acquire(EP)
    gate.observe(EP, 429, headers(1, 0, T0 + 30))
    gate.acquire("/2/tweets/search/recent")  # not blocked by the other endpoint's window
    assert clock.waits == []
    with pytest.raises(RateLimitWaitTooLong):
        gate.acquire(EP)


def test_closing_wakes_waiters() -> None:
    gate, clock = make_gate()
    gate.acquire(EP)
    gate.observe(EP, 429, headers(1, 0, T0 + 30))
    clock.then = gate.close  # closed while the request waits for the reset
    with pytest.raises(GateClosed):
        gate.acquire(EP)
    assert len(clock.waits) == 1


def test_replies_without_rate_headers_do_not_serialise_requests() -> None:
    gate, clock = make_gate()
    gate.acquire(EP)
    gate.observe(EP, 200, {})  # a gateway that strips the headers
    for _ in range(5):
        gate.acquire(EP)  # all admitted at once: nothing to wait for
    assert clock.waits == []


def test_a_tighter_daily_window_is_waited_for_and_announced_once() -> None:
    notices: list[WaitNotice] = []
    gate, clock = make_gate(on_wait=notices.append, max_wait=90_000)
    daily_reset = int(T0) + 3_600
    both = {**headers(300, 299, T0 + 900), **headers(2, 1, daily_reset, "x-app-limit-24hour")}
    gate.acquire(EP)
    gate.observe(EP, 200, both)
    gate.acquire(EP)  # the daily window's last place; the 15-minute one has 298 left
    assert clock.waits == []
    gate.acquire(EP)
    assert clock.now == pytest.approx(daily_reset + 1 + 0.05)  # the daily reset, not 15 min
    (notice,) = notices
    assert notice.window == "24-hour" and notice.until == pytest.approx(daily_reset + 1.05)
    assert str(notice) == "waiting 60:01 for the counts 24-hour window, resets 09:00:01 UTC"


def test_without_daily_headers_only_the_15_minute_window_counts() -> None:
    notices: list[WaitNotice] = []
    gate, clock = make_gate(on_wait=notices.append)
    gate.acquire(EP)
    gate.observe(EP, 200, headers(1, 0, T0 + 600))
    gate.acquire(EP)
    assert clock.now == pytest.approx(int(T0) + 601.05)
    assert [str(n) for n in notices] == ["waiting 10:01 for the counts window, resets 08:10:01 UTC"]
