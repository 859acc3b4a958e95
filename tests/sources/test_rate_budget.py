"""The rate-limit budget the enrich tasks log: the server's report, less what was sent since."""

from __future__ import annotations

from datetime import UTC, datetime

from sources.rate_limit import Budget, RateGate

EP = "/2/tweets/counts/recent"
RESET = int(datetime(2026, 11, 28, 3, 15, tzinfo=UTC).timestamp())


def reported(limit: int, remaining: int) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(RESET),
    }


def test_unknown_until_a_reply_reports_the_window() -> None:
    gate = RateGate(clock=lambda: RESET - 600)
    assert gate.budget(EP) == Budget()
    gate.acquire(EP)
    assert str(gate.budget(EP)) == "rate-limit budget not reported"


def test_the_reply_sets_it_and_each_request_sent_since_spends_it() -> None:
    gate = RateGate(clock=lambda: RESET - 600)
    gate.acquire(EP)
    gate.observe(EP, 200, reported(300, 299))
    assert gate.budget(EP) == Budget(299, 300, RESET)
    gate.acquire(EP)
    gate.acquire(EP)  # two in flight, not yet answered: already spent
    assert gate.budget(EP).remaining == 297
    assert str(gate.budget(EP)) == (
        "297/300 requests left in the rate-limit window (resets 03:15:00 UTC)"
    )
    gate.observe(EP, 200, reported(300, 250))  # someone else spends the same token's window
    assert gate.budget(EP).remaining == 250
    assert gate.budget("/2/tweets/search/recent") == Budget()  # each endpoint its own window
