"""The scaling simulation's core against the closed form: the real rate gate on a fake clock."""

from __future__ import annotations

import pytest

from bench.scaling import MARGIN, Scenario, simulate

# 10 apps at 5 counts requests / 15 min (the legacy Basic plan): two windows, one full wait
BASIC = Scenario(apps=10, workers=1, strategy="counts", limit=5, latency_sigma=0.0)


def test_ten_apps_on_five_a_window_wait_one_window_as_the_plan_says() -> None:
    out = simulate(BASIC)
    floor = BASIC.plan().shortest_seconds(5)
    assert floor == 900
    assert (out.requests, out.refused, out.windows, out.ok, out.failed) == (10, 0, 2, 10, 0)
    (wait,) = out.waits  # one wait, announced once, for the whole window
    assert 899 < wait.seconds < 900 + 1 + MARGIN
    # the window opens as the probe arrives (0.075 s) and X reports its end rounded down to
    # 900 s; the gate sends once that second has passed, plus the margin; then the second
    # window's five requests go at once (5 in flight) and take one latency
    assert out.seconds == pytest.approx(floor + 1 + MARGIN + 0.15)


def test_more_workers_share_the_window_and_do_not_shorten_it() -> None:
    one = simulate(BASIC)
    four = simulate(Scenario(**{**BASIC.__dict__, "workers": 4}))
    assert four.windows == one.windows == 2 and four.ok == 10
    assert four.seconds == pytest.approx(one.seconds, abs=1.5)  # the window, not the workers
    assert four.requests == 10 + four.refused  # a 429 is sent again, never lost
