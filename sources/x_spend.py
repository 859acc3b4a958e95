"""What X requests cost, and the run's spend cap, in exact decimal dollars.

X bills pay-per-use: every `counts/recent` request answered, and every post `search/recent`
returns. Before a request is sent, its worst case (one request; a full page of posts) is held
against the cap; a request that could pass the cap is not sent. When requests in flight hold
the rest of the cap, the next waits for their bills instead of giving up early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

from transforms.errors import SpendCapReached

PAGE_POSTS = 100  # a search page is priced as a full page before it is sent
ZERO = Decimal(0)


@dataclass(frozen=True)
class Prices:
    """USD per `counts/recent` request answered, and per post returned by `search/recent`."""

    per_request: Decimal = Decimal("0.005")
    per_post: Decimal = Decimal("0.005")

    def worst(self, strategy: str) -> Decimal:
        """The most one request of `strategy` can cost."""
        return self.per_request if strategy == "counts" else self.per_post * PAGE_POSTS

    def bill(self, strategy: str, posts: int) -> Decimal:
        """What one answered request of `strategy` that returned `posts` posts costs."""
        return self.per_request if strategy == "counts" else self.per_post * posts


def usd(amount: Decimal) -> str:
    """An amount for people: at least two decimals, never rounded away (0.005 stays 0.005)."""
    text = format(amount.normalize(), "f")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')} USD"


class Ledger:
    """The run's spend so far, what requests in flight hold, and the cap (None: no cap)."""

    def __init__(self, prices: Prices, cap: Decimal | None) -> None:
        self.prices = prices
        self.cap = cap
        self.spent = ZERO
        self._held = ZERO
        self._closed = False
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, worst: Decimal) -> Iterator[Callable[[Decimal], None]]:
        """Hold `worst` for one request; yields `charge` for what it really cost (<= worst).

        Raises `SpendCapReached` when `worst` cannot fit even once every hold is settled.
        """
        with self._cond:
            while self.cap is not None and self.spent + self._held + worst > self.cap:
                if self._held == ZERO or self._closed:
                    raise SpendCapReached(
                        f"the run's spend cap of {usd(self.cap)} is reached ({usd(self.spent)} "
                        "spent; APPBUZZ_X_MAX_SPEND_USD or --max-spend-usd)"
                    )
                self._cond.wait(timeout=1.0)
            self._held += worst
        charged: list[Decimal] = []
        try:
            yield charged.append
        finally:
            with self._cond:
                self._held -= worst
                self.spent += sum(charged, ZERO)
                self._cond.notify_all()

    def close(self) -> None:
        """Nothing more will be sent: waiters give up now."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
