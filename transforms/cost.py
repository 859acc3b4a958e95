"""What X requests cost, in exact decimal dollars: pay-per-use prices and how money is shown.

X bills every `counts/recent` request answered, every `counts/all` request (a backfill's, dearer)
and every post `search/recent` returns. A search page is priced as a full page (100 posts) before
it is sent: its worst case.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PAGE_POSTS = 100  # a search page is priced as a full page before it is sent
ZERO = Decimal(0)


@dataclass(frozen=True)
class Prices:
    """USD per `counts/recent` request answered, per post returned by `search/recent`, and per
    `counts/all` request answered."""

    per_request: Decimal = Decimal("0.005")
    per_post: Decimal = Decimal("0.005")
    per_archive_request: Decimal = Decimal("0.010")

    def worst(self, strategy: str) -> Decimal:
        """The most one request of `strategy` can cost."""
        return self.bill(strategy, PAGE_POSTS)

    def bill(self, strategy: str, posts: int) -> Decimal:
        """What one answered request of `strategy` that returned `posts` posts costs."""
        if strategy == "counts":
            return self.per_request
        if strategy == "all":
            return self.per_archive_request
        return self.per_post * posts


def usd(amount: Decimal) -> str:
    """An amount for people: at least two decimals, never rounded away (0.005 stays 0.005)."""
    text = format(amount.normalize(), "f")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')} USD"
