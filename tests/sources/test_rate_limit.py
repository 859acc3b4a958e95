"""The rate gate on its own: when it admits a request, and when it refuses to wait."""

from __future__ import annotations

import threading
import time

import pytest

from sources.rate_limit import Budget, GateClosed, RateGate, RateLimitWaitTooLong

EP = "/2/tweets/counts/recent"


def headers(limit: int, remaining: int, reset: int) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def admitted_after(gate: RateGate, endpoint: str = EP) -> float:
    gate.acquire(endpoint)
    return time.time()


def test_a_spent_window_waits_until_the_reset_second_has_passed() -> None:
    gate = RateGate(margin=0.05)
    reset = int(time.time()) + 1
    gate.acquire(EP)
    gate.observe(EP, 200, headers(2, 1, reset))
    gate.acquire(EP)  # the last place of the window
    gate.observe(EP, 200, headers(2, 0, reset))
    assert admitted_after(gate) >= reset + 1 + 0.05


def test_the_first_request_probes_alone_while_the_limit_is_unknown() -> None:
    gate = RateGate(margin=0.05)
    gate.acquire(EP)
    second = threading.Thread(target=gate.acquire, args=(EP,))
    second.start()
    second.join(timeout=0.3)
    assert second.is_alive()  # held back until the probe's reply tells the limit
    gate.observe(EP, 200, headers(10, 9, int(time.time()) + 60))
    second.join(timeout=2)
    assert not second.is_alive()


def test_the_servers_remaining_wins_when_it_is_lower() -> None:
    gate = RateGate(margin=0.05, max_wait=0.2)
    gate.acquire(EP)
    gate.observe(EP, 200, headers(100, 0, int(time.time()) + 30))  # someone else spent it
    with pytest.raises(RateLimitWaitTooLong, match="APPBUZZ_X_MAX_RATE_WAIT_SECONDS"):
        gate.acquire(EP)


def test_a_refusal_blocks_until_its_reset_and_replies_from_a_past_window_are_ignored() -> None:
    gate = RateGate(margin=0.05)
    gate.acquire(EP)
    gate.observe(EP, 200, headers(5, 4, int(time.time()) - 5))  # a window long gone
    reset = int(time.time()) + 1
    gate.acquire(EP)
    gate.observe(EP, 429, headers(5, 0, reset))
    assert admitted_after(gate) >= reset + 1 + 0.05
    gate.observe(EP, 200, headers(5, 4, reset))  # late reply from the window just waited out
    for _ in range(4):  # the new window's places are all there
        assert admitted_after(gate) < reset + 1 + 0.05 + 1


def test_endpoints_have_windows_of_their_own() -> None:
    gate = RateGate(margin=0.05, max_wait=0.1)
    gate.acquire(EP)
    gate.observe(EP, 429, headers(1, 0, int(time.time()) + 30))
    gate.acquire("/2/tweets/search/recent")  # not blocked by the other endpoint's window
    with pytest.raises(RateLimitWaitTooLong):
        gate.acquire(EP)


def test_closing_wakes_waiters() -> None:
    gate = RateGate(margin=0.05)
    gate.acquire(EP)
    gate.observe(EP, 429, headers(1, 0, int(time.time()) + 30))
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            gate.acquire(EP)
        except GateClosed as error:
            errors.append(error)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.1)
    gate.close()
    waiter.join(timeout=2)
    assert not waiter.is_alive() and len(errors) == 1


def test_replies_without_rate_headers_do_not_serialise_requests() -> None:
    gate = RateGate(max_wait=0)  # any wait at all is refused at once, never slept
    gate.acquire(EP)
    gate.observe(EP, 200, {})  # a gateway that strips the headers
    admitted = 0
    for _ in range(5):
        gate.acquire(EP)  # all admitted at once: nothing to wait for
        admitted += 1
    assert admitted == 5 and gate.budget(EP) == Budget()  # no budget invented either
    other = "/2/tweets/search/recent"  # the contrast: no reply yet, so the probe goes alone
    gate.acquire(other)
    with pytest.raises(RateLimitWaitTooLong):
        gate.acquire(other)
