"""Money, exactly: prices, the spend cap's holds and the dry run's plan, without the network."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sources.x_spend import SpendCap
from transforms.cost import Prices, usd
from transforms.errors import XSpendCapReached
from transforms.plan import Plan, PlannedApp

PRICES = Prices(Decimal("0.005"), Decimal("0.005"))


def test_amounts_are_shown_without_rounding_away_a_fraction_of_a_cent() -> None:
    assert [usd(Decimal(v)) for v in ("0.005", "2.5", "50", "0.050000")] == [
        "0.005 USD", "2.50 USD", "50.00 USD", "0.05 USD",
    ]  # fmt: skip


def test_a_hold_that_cannot_fit_is_refused_and_bills_settle_at_what_was_charged() -> None:
    ledger = SpendCap(PRICES, Decimal("1.00"))
    with ledger.hold(PRICES.worst("search")) as charge:  # 0.50 held for a page
        charge(PRICES.bill("search", 37))
    with ledger.hold(PRICES.worst("search")) as charge:
        charge(PRICES.bill("search", 100))
    assert ledger.spent == Decimal("0.685")  # 137 posts, exactly
    with (
        pytest.raises(XSpendCapReached, match=r"spend cap of 1\.00 USD is reached"),
        ledger.hold(PRICES.worst("search")),
    ):
        pass
    with ledger.hold(PRICES.worst("counts")) as charge:  # a counts request still fits
        charge(PRICES.bill("counts", 0))
    assert ledger.spent == Decimal("0.690")


def test_the_plan_counts_worst_cases_and_windows() -> None:
    apps = tuple(PlannedApp(i, 100 + i, f"App {i}", f'"App {i}"') for i in range(1, 11))
    apps += (PlannedApp(11, 111, "!!!", None),)  # no query: asks nothing
    counts = Plan("Book/top11", "counts", 10, apps, PRICES, Decimal(1))
    search = Plan("Book/top11", "search", 10, apps, PRICES, Decimal(1))
    assert (counts.requests, counts.worst_posts, counts.worst_cost) == (10, 0, Decimal("0.050"))
    assert (search.requests, search.worst_posts, search.worst_cost) == (100, 10_000, 50)
    assert counts.shortest_seconds(5) == 15 * 60 and counts.shortest_seconds(300) == 0
    assert search.lines()[-2].endswith("worst-case cost: 50.00 USD (beyond the 1.00 USD cap)")
