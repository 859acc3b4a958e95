"""The X API answered from a table in memory: what the tasks' unit tests hand them instead of
`XApi`, so a test of a task swaps the resource, not the network.

Each query's total comes from `totals` (else `default`), spread evenly over its days (`all`: each
of its whole days has a seventh of it); every query asked is kept in `asked`.
The account can be spent after `spent_after` answers (`XUsageCapped`: the run stops, as a real
spent account stops it) or the token refused (`XTokenRefused`). Prices are X's pay-per-use ones.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sources.rate_limit import Budget, WaitNotice
from transforms.cost import ZERO, Prices
from transforms.days import DayCount
from transforms.errors import XApiError, XEnrichmentStopped, XTokenRefused, XUsageCapped
from transforms.mentions import MentionCount, MentionStatus

SPENT = "the X API account's Monthly usage cap is spent (in memory)"
REFUSED = "the X API refused X_BEARER_TOKEN (in memory)"


class InMemoryX:
    base_url = "memory://x"

    def __init__(
        self,
        totals: Mapping[str, int] | None = None,
        *,
        default: int = 0,
        spent_after: int | None = None,
        refuse_token: bool = False,
        prices: Prices | None = None,
    ) -> None:
        self.totals = dict(totals or {})
        self.default = default
        self.spent_after = spent_after
        self.refuse_token = refuse_token
        self.prices = prices or Prices()
        self.asked: list[str] = []
        self._spent = ZERO
        self._stop: XApiError | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> InMemoryX:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        pass

    @property
    def stop(self) -> XApiError | None:
        return self._stop

    @property
    def spent(self) -> Decimal:
        return self._spent

    def budget(self, strategy: str) -> Budget:
        return Budget()

    def on_wait(self, listener: Callable[[WaitNotice], None]) -> None:
        pass  # nothing here ever waits

    def count(
        self, query: str, strategy: str = "counts", max_pages: int = 10, until: date | None = None
    ) -> MentionCount:
        with self._lock:
            if self._stop is not None:
                raise XEnrichmentStopped("enrichment stopped")
            if self.refuse_token:
                self._stop = XTokenRefused(REFUSED)
            elif self.spent_after is not None and len(self.asked) >= self.spent_after:
                self._stop = XUsageCapped(SPENT)
            if self._stop is not None:
                raise self._stop
            self.asked.append(query)
            total = self.totals.get(query, self.default)
            today = until or datetime.now(UTC).date()
            if strategy == "all":
                days = tuple(
                    DayCount(today - timedelta(days=n), total // 7, whole=True)
                    for n in range(max_pages, 0, -1)
                )
                cost = self.prices.bill("all", 0)
                self._spent += cost
                return MentionCount(
                    sum(d.mentions for d in days), MentionStatus.OK.value, x_requests=1,
                    x_cost_usd=cost, settled=True, days=days,
                )  # fmt: skip
            if strategy == "counts":
                cost = self.prices.bill("counts", 0)
                self._spent += cost
                return MentionCount(
                    total, MentionStatus.OK.value, x_requests=1, x_cost_usd=cost, settled=True,
                    days=_week(total, today),
                )  # fmt: skip
            posts = min(total, 100 * max_pages)
            cost = self.prices.bill("search", posts)
            self._spent += cost
            status = MentionStatus.CAPPED if total > posts else MentionStatus.OK
            return MentionCount(
                posts, status.value, x_requests=max(1, math.ceil(posts / 100)),
                posts_consumed=posts, x_cost_usd=cost, settled=True,
            )  # fmt: skip


def _week(total: int, today: date) -> tuple[DayCount, ...]:
    """A counts/recent reply's days: six whole ones between a partial first and last."""
    share = total // 8
    days = [DayCount(today - timedelta(days=7), share, whole=False)]
    days += [DayCount(today - timedelta(days=n), share, whole=True) for n in range(6, 0, -1)]
    return (*days, DayCount(today, total - 7 * share, whole=False))
