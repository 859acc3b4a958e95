"""Count an app's mentions on X, by either strategy, with the API's faults handled here.

- `counts`: `GET /2/tweets/counts/recent`; the exact total over the last 7 days, no post cap.
- `search`: `GET /2/tweets/search/recent`, 100 posts a page, `next_token` followed up to
  `max_pages` pages; the count is the posts seen, `capped` when pages remained.
- `all` (a backfill): `GET /2/tweets/counts/all`, the `max_pages` whole UTC days before `until`,
  31 day buckets a page, `next_token` followed; the count is their sum.
Every count carries its mentions per UTC day (`transforms.days`): a counts reply's day buckets,
or a search's posts by `created_at`.

What each fault means is one table (`sources.x_errors.RULES`); here transient faults are sent
again with backoff and jitter and a 429 once the rate gate lets it (the gate knows when the window
resets), both bounded by a tenacity `Retrying` built from the policy; a refused token or a spent
account stops all enrichment and raises its typed error; anything else fails that app with the
API's message. No tweepy or requests exception leaves this module: they hold the request, and the
request holds the token.

`XApi` is the live resource; `sources.x_memory.InMemoryX` answers the same calls from a table,
for tests of the tasks that use it (`MentionCounter` is what both offer).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import tweepy
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception

from sources.rate_limit import Budget, RateGate, WaitNotice
from sources.x_client import Meter, Traffic, make_client
from sources.x_errors import STOPS_THE_RUN, Verdict, classify
from sources.x_spend import SpendCap
from transforms.cost import Prices
from transforms.days import DayCount, bucket_days, post_days
from transforms.errors import (
    XApiError,
    XEnrichmentStopped,
    XSpendCapReached,
)
from transforms.mentions import MentionCount, MentionStatus

STRATEGIES = ("counts", "search")  # a night's; a backfill counts with "all"
ENDPOINTS = {
    "counts": "/2/tweets/counts/recent",
    "search": "/2/tweets/search/recent",
    "all": "/2/tweets/counts/all",
}
SEARCH_PAGE_SIZE = 100
SEARCH_WINDOW = timedelta(days=7)  # what search/recent reaches back to
MAX_BACKOFF_SECONDS = 60.0

__all__ = ["MentionCounter", "RetryPolicy", "XApi"]


class MentionCounter(Protocol):
    """The X API as a run's tasks use it: the live `XApi`, or `InMemoryX` in tests."""

    base_url: str

    def count(
        self, query: str, strategy: str = "counts", max_pages: int = 10, until: date | None = None
    ) -> MentionCount:
        """One query's count (for `all`, the `max_pages` days before `until`); raises
        `XTokenRefused`, `XUsageCapped`, `XArchiveForbidden` or `XEnrichmentStopped` when the
        run stops counting."""
        ...

    def budget(self, strategy: str) -> Budget: ...

    def on_wait(self, listener: Callable[[WaitNotice], None]) -> None:
        """Tell `listener` of every wait for a rate-limit window (progress, logs)."""
        ...

    @property
    def stop(self) -> XApiError | None:
        """Why counting stopped for the whole run (token refused, account spent), or None."""
        ...

    @property
    def spent(self) -> Decimal: ...

    def close(self) -> None: ...


class _MentionFailed(Exception):
    """This app cannot be counted; the message says why, on one line."""


def _today() -> date:
    return datetime.now(UTC).date()


def _has_time(post: Any) -> bool:
    return isinstance(getattr(post, "created_at", None), datetime)


def _days_of(created: list[datetime], asked: datetime, *, complete: bool) -> tuple[DayCount, ...]:
    """A search's posts by day, over what it covered: the whole window when every page was
    read, else only back to its oldest post (older days were not read to their end)."""
    if not created and not complete:
        return ()
    oldest = asked - SEARCH_WINDOW if complete else min(created)
    return post_days(created, oldest, asked)


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """How many times a request is sent again, per verdict, and the backoff of transient ones."""

    max_retries: int = 4  # transient faults for one request
    base_seconds: float = 1.0
    max_refusals: int = 5  # 429s in a row for one request before the app is given up

    def delay(self, attempt: int) -> float:
        """Exponential backoff with (equal) jitter: half fixed, half random."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.base_seconds * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def limits(self) -> dict[Verdict, int]:
        return {Verdict.TRANSIENT: self.max_retries, Verdict.RATE_LIMITED: self.max_refusals}


class _Attempts:
    """tenacity's `stop` and `wait` for one request: each retried verdict has its own bound."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.limits = policy.limits()
        self.seen: Counter[Verdict] = Counter()

    def _verdict(self, state: RetryCallState) -> Verdict:
        error = state.outcome.exception() if state.outcome else None
        return classify(error)[0] if error is not None else Verdict.FAILED

    def stop(self, state: RetryCallState) -> bool:
        verdict = self._verdict(state)
        self.seen[verdict] += 1
        return self.seen[verdict] > self.limits.get(verdict, 0)

    def wait(self, state: RetryCallState) -> float:
        verdict = self._verdict(state)
        return self.policy.delay(self.seen[verdict]) if verdict is Verdict.TRANSIENT else 0.0


class XApi:
    """The X API as appbuzz uses it: one client, one `Traffic`, shared by all mapped tasks."""

    def __init__(
        self,
        token: SecretStr,
        base_url: str,
        *,
        timeout: float = 30.0,
        max_concurrency: int = 5,
        retry: RetryPolicy | None = None,
        gate: RateGate | None = None,
        shared_slot: Any = None,
        prices: Prices | None = None,
        max_spend: Decimal | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.prices = prices or Prices()
        cap = SpendCap(self.prices, max_spend)
        self.traffic = Traffic(max_concurrency, gate or RateGate(), shared_slot, cap)
        self._client = make_client(token, self.base_url, timeout, self.traffic)

    def __repr__(self) -> str:
        return f"XApi(base_url={self.base_url!r})"

    def __enter__(self) -> XApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.session.close()

    @property
    def stop(self) -> XApiError | None:
        """Why enrichment was stopped (token refused, account spent), or None."""
        return self.traffic.stopped_by

    @property
    def spent(self) -> Decimal:
        """What this run's requests cost so far."""
        return self.traffic.spend_cap.spent

    def budget(self, strategy: str) -> Budget:
        """What is left of the rate-limit window of the endpoint `strategy` uses."""
        return self.traffic.gate.budget(ENDPOINTS[strategy])

    def on_wait(self, listener: Callable[[WaitNotice], None]) -> None:
        self.traffic.gate.on_wait = listener

    def count(
        self, query: str, strategy: str = "counts", max_pages: int = 10, until: date | None = None
    ) -> MentionCount:
        """Count one query (`all`: the `max_pages` whole days before `until`, default today).
        Raises `XTokenRefused`, `XUsageCapped`, `XArchiveForbidden` or `XEnrichmentStopped`
        (the run stops); an app the spend cap leaves uncounted is `skipped`, with the reason."""
        if strategy not in ENDPOINTS:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {list(ENDPOINTS)}")
        with self.traffic.metering() as meter:
            try:
                if strategy == "counts":
                    return self._counts(query, meter)
                if strategy == "all":
                    return self._archive(query, max_pages, until or _today(), meter)
                return self._search(query, max_pages, meter)
            except _MentionFailed as error:
                return self._result(None, MentionStatus.FAILED, meter, str(error))
            except XSpendCapReached as error:
                if self.traffic.stopped:  # the run is stopping: not the cap's doing
                    raise XEnrichmentStopped("enrichment stopped") from None
                return self._result(None, MentionStatus.SKIPPED, meter, f"not counted: {error}")

    def _result(
        self,
        mentions: int | None,
        status: MentionStatus,
        meter: Meter,
        error: str | None = None,
        *,
        settled: bool = False,
        days: tuple[DayCount, ...] = (),
        **window: datetime | None,
    ) -> MentionCount:
        return MentionCount(
            mentions, status.value, error, x_requests=meter.requests, posts_consumed=meter.posts,
            x_cost_usd=meter.cost, settled=settled, days=days, **window,
        )  # fmt: skip

    def _counts(self, query: str, meter: Meter) -> MentionCount:
        reply = self._request(
            lambda: self._client.get_recent_tweets_count(query, granularity="day"), "counts", meter
        )
        total = reply.meta.get("total_tweet_count")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise _MentionFailed("unexpected reply from the X API: no meta.total_tweet_count")
        buckets = [b for b in (reply.data or []) if isinstance(b, dict)]
        return self._result(
            total, MentionStatus.OK, meter, settled=True, days=bucket_days(buckets),
            window_start=_parse_time(buckets[0].get("start")) if buckets else None,
            window_end=_parse_time(buckets[-1].get("end")) if buckets else None,
        )  # fmt: skip

    def _archive(self, query: str, days: int, until: date, meter: Meter) -> MentionCount:
        """The whole days before `until`, page after page (31 day buckets a page)."""
        end = datetime.combine(until, datetime.min.time(), UTC)
        start = end - timedelta(days=days)
        total, buckets, next_token = 0, [], None
        while True:
            page_call = partial(
                self._client.get_all_tweets_count, query, granularity="day",
                start_time=start, end_time=end, next_token=next_token,
            )  # fmt: skip
            reply = self._request(page_call, "all", meter)
            page_total = reply.meta.get("total_tweet_count")
            if not isinstance(page_total, int) or isinstance(page_total, bool) or page_total < 0:
                raise _MentionFailed("unexpected reply from the X API: no meta.total_tweet_count")
            total += page_total
            buckets += [b for b in (reply.data or []) if isinstance(b, dict)]
            next_token = reply.meta.get("next_token")
            if not next_token:
                break
        return self._result(
            total, MentionStatus.OK, meter, settled=True, days=bucket_days(buckets),
            window_start=start, window_end=end,
        )  # fmt: skip

    def _search(self, query: str, max_pages: int, meter: Meter) -> MentionCount:
        asked = datetime.now(UTC)
        created: list[datetime] = []
        next_token: str | None = None
        for page in range(max_pages):
            page_call = partial(
                self._client.search_recent_tweets,
                query,
                max_results=SEARCH_PAGE_SIZE,
                next_token=next_token,
                tweet_fields=["created_at"],
            )
            try:
                reply = self._request(page_call, "search", meter)
            except XSpendCapReached as error:
                if page == 0 or self.traffic.stopped:
                    raise
                return self._result(
                    meter.posts, MentionStatus.CAPPED, meter, f"stopped early: {error}",
                    days=_days_of(created, asked, complete=False),
                )  # fmt: skip
            created += [t.created_at for t in reply.data or [] if _has_time(t)]
            next_token = reply.meta.get("next_token")
            if not next_token:
                break
        status = MentionStatus.CAPPED if next_token else MentionStatus.OK
        days = _days_of(created, asked, complete=not next_token)
        return self._result(meter.posts, status, meter, settled=True, days=days)

    def _request(
        self, call: Callable[[], tweepy.Response], strategy: str, meter: Meter
    ) -> tweepy.Response:
        """One API call, sent again as the policy says; raises `_MentionFailed` when spent."""
        attempts = _Attempts(self.retry)
        retrying = Retrying(
            retry=retry_if_exception(lambda error: classify(error)[0] in attempts.limits),
            stop=attempts.stop,
            wait=attempts.wait,
            sleep=self.traffic.pause,
            reraise=True,
        )
        try:
            return retrying(self._billed, call, strategy, meter)
        except Exception as error:
            failure = error
        verdict, message = classify(failure)
        if verdict is Verdict.STOPPED:
            raise failure
        if verdict in STOPS_THE_RUN:
            stop = STOPS_THE_RUN[verdict](message)
            self.traffic.stop(stop)
            raise stop from None
        tries = attempts.seen[verdict]
        if verdict is Verdict.RATE_LIMITED:
            message = f"{message} {tries} times in a row from the X API"
        elif verdict is Verdict.TRANSIENT:
            message = f"{message} (gave up after {tries} attempts)"
        raise _MentionFailed(message) from None

    def _billed(
        self, call: Callable[[], tweepy.Response], strategy: str, meter: Meter
    ) -> tweepy.Response:
        """One attempt, its worst case held against the spend cap and its real cost charged."""
        with self.traffic.spend_cap.hold(self.prices.worst(strategy)) as charge:
            reply = call()
            posts = len(reply.data or []) if strategy == "search" else 0
            cost = self.prices.bill(strategy, posts)
            charge(cost)
        meter.posts += posts
        meter.cost += cost
        return reply
