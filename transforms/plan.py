"""What a run will ask of X and what it can cost, before anything is sent: the dry run's plan.

The worst case is what the spend cap guards against: a counts request per app, or every search
page full (100 posts). The shortest time is set by the rate limit: a window's requests, then a
wait for the next window; the documented pay-per-use limits and the legacy Basic plan's are both
shown, since the account's real limit is only known from the first reply.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from transforms.cost import PAGE_POSTS, Prices, usd

WINDOW_SECONDS = 900
# requests per 15-minute window: (pay-per-use, as documented in 2026; legacy Basic plan, which
# has no full-archive counts at all)
LIMITS = {"counts": (300, 5), "search": (450, 60), "all": (300, None)}
ARCHIVE_PAGE_DAYS = 31  # day buckets per counts/all page


def requests_per_app(strategy: str, max_pages: int) -> int:
    """Requests one app costs at most: one count, `max_pages` search pages, or one full-archive
    page per 31 of the `max_pages` days a backfill covers."""
    if strategy == "counts":
        return 1
    if strategy == "all":
        return math.ceil(max_pages / ARCHIVE_PAGE_DAYS)
    return max_pages


@dataclass(frozen=True)
class PlannedApp:
    rank: int
    id: int
    track_name: str
    query: str | None
    held: bool = False  # the ledger holds this night's count: not asked again

    @property
    def asked(self) -> bool:
        return self.query is not None and not self.held


@dataclass(frozen=True)
class Plan:
    selection: str
    strategy: str
    max_pages: int
    apps: tuple[PlannedApp, ...]
    prices: Prices
    max_spend: Decimal

    @property
    def requests(self) -> int:
        asked = sum(app.asked for app in self.apps)
        return asked * requests_per_app(self.strategy, self.max_pages)

    @property
    def worst_posts(self) -> int:
        return self.requests * PAGE_POSTS if self.strategy == "search" else 0

    @property
    def worst_cost(self) -> Decimal:
        return self.requests * self.prices.worst(self.strategy)

    def shortest_seconds(self, per_window: int) -> int:
        """Windows after the first that the requests need, at `per_window` requests each."""
        return max(0, math.ceil(self.requests / per_window) - 1) * WINDOW_SECONDS

    def lines(self) -> list[str]:
        """The plan as a person reads it: one line per app, then the run's totals."""
        what = (
            f"a backfill of the {self.max_pages} days before the night"
            if self.strategy == "all"
            else f"strategy {self.strategy}"
        )
        lines = [f"plan for {self.selection}, {what} (nothing sent to X):"]
        lines += [
            f"  {app.rank:>3}. {app.track_name} (id {app.id}): {_asks(app)}" for app in self.apps
        ]
        held = sum(app.held for app in self.apps)
        if held:
            lines.append(f"  held in the ledger for this night: {held} of {len(self.apps)} apps")
        current, basic = LIMITS[self.strategy]
        cap = "within" if self.worst_cost <= self.max_spend else "beyond"
        legacy = (
            "a legacy Basic plan has no full-archive counts"
            if basic is None
            else f"{_duration(self.shortest_seconds(basic))} on a legacy Basic plan ({basic}/15 min)"
        )
        lines += [
            f"  requests: {self.requests}; worst-case posts: {self.worst_posts}; "
            f"worst-case cost: {usd(self.worst_cost)} ({cap} the {usd(self.max_spend)} cap)",
            f"  shortest time the rate limit allows: {_duration(self.shortest_seconds(current))} "
            f"at {current} requests/15 min; {legacy}",
        ]
        return lines


def _asks(app: PlannedApp) -> str:
    if app.query is None:
        return "no query: the name has no searchable words"
    return f"{app.query} (held in the ledger: not asked)" if app.held else app.query


def _duration(seconds: int) -> str:
    if seconds == 0:
        return "no wait"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60:02d} min" if hours else f"{rest // 60} min"
