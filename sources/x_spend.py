"""The run's spend cap, held request by request, in exact decimal dollars (`transforms.cost`).

Before a request is sent, its worst case (one request; a full page of posts) is held
against the cap; a request that could pass the cap is not sent. When requests in flight hold
the rest of the cap, the next waits for their bills instead of giving up early.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from transforms.cost import ZERO, Prices, usd
from transforms.errors import XSpendCapReached


class SpendCap:
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

        Raises `XSpendCapReached` when `worst` cannot fit even once every hold is settled.
        """
        with self._cond:
            while self.cap is not None and self.spent + self._held + worst > self.cap:
                if self._held == ZERO or self._closed:
                    raise XSpendCapReached(
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
