"""Count an app's mentions on X, by either strategy, with the API's faults handled here.

- `counts`: `GET /2/tweets/counts/recent`; the exact total over the last 7 days, no post cap.
- `search`: `GET /2/tweets/search/recent`, 100 posts a page, `next_token` followed up to
  `max_pages` pages; the count is the posts seen, `capped` when pages remained.

What each fault means is one table (`RULES`): transient faults (5xx, timeouts, dropped
connections, malformed replies) are retried with backoff and jitter, a 429 is sent again once the
rate gate lets it (the gate knows when the window resets), and both are bounded by a tenacity
`Retrying` built from the policy; a refused token or a spent account stops all enrichment and
raises its typed error; anything else fails that app with the API's message. No tweepy or
requests exception leaves this module: they hold the request, and the request holds the token.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import partial
from typing import Any

import requests
import tweepy
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception

from sources.rate_limit import Budget, RateGate
from sources.x_client import Meter, Traffic, make_client
from sources.x_spend import Ledger
from transforms.cost import ZERO, Prices
from transforms.errors import (
    RateLimitWaitTooLong,
    XEnrichmentStopped,
    XSpendCapReached,
    XTokenRefused,
    XUsageCapped,
)

STRATEGIES = ("counts", "search")
ENDPOINTS = {"counts": "/2/tweets/counts/recent", "search": "/2/tweets/search/recent"}
SEARCH_PAGE_SIZE = 100
MAX_BACKOFF_SECONDS = 60.0

__all__ = ["MentionCount", "RetryPolicy", "XApi"]


class _MentionFailed(Exception):
    """This app cannot be counted; the message says why, on one line."""


@dataclass(frozen=True)
class MentionCount:
    """One app's result; requests, posts and cost are what was spent, even on failure."""

    mentions: int | None
    mention_status: str
    mention_error: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    x_requests: int = 0
    posts_consumed: int = 0
    x_cost_usd: Decimal = ZERO
    final: bool = True  # False: the spend cap, not the API, decided (never cached)


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _status(error: tweepy.HTTPException) -> int | None:
    status = getattr(error.response, "status_code", None) or getattr(error.response, "status", None)
    return status if isinstance(status, int) else None


def describe_http_error(error: tweepy.HTTPException) -> str:
    """`400 Bad Request: <the API's message>`, on one line."""
    response = error.response
    head = f"{_status(error) or ''} {getattr(response, 'reason', '') or ''}".strip()
    messages = [m for m in error.api_messages if isinstance(m, str) and m.strip()]
    return _one_line(f"{head}: {'; '.join(messages)}" if messages else head)


def refusal_message(error: tweepy.HTTPException) -> str:
    """The run's one line when the token is refused; it names the setting, never its value."""
    what = describe_http_error(error)
    if isinstance(error, tweepy.Forbidden):
        hint = "check that X_BEARER_TOKEN belongs to a project whose plan includes this endpoint"
    else:
        hint = "set X_BEARER_TOKEN to a valid app-only bearer token"
    return f"the X API refused X_BEARER_TOKEN ({what}); {hint}"


def _problem(error: tweepy.HTTPException) -> dict[str, Any]:
    try:
        body = error.response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def spent_message(error: tweepy.HTTPException) -> str:
    """The run's one line when the account is spent: which cap, and for what period."""
    if _status(error) == 402:
        return (
            "the X API account's credits are exhausted (402 Payment Required): no request "
            "can succeed until credits are bought; a retry then counts the apps left"
        )
    problem = _problem(error)
    period = str(problem.get("period") or "unknown period")
    detail = _one_line(str(problem.get("detail") or problem.get("title") or "usage capped"), 200)
    return (
        f"the X API account's {period} usage cap is spent (429 {detail}): no request can "
        f"succeed until the {period.lower()} cap resets or is raised; a retry then counts "
        "the apps left"
    )


def _usage_capped(error: BaseException) -> bool:
    if not isinstance(error, tweepy.HTTPException):
        return False
    if _status(error) == 402:
        return True
    problem = _problem(error)
    kind, title = str(problem.get("type", "")), str(problem.get("title", ""))
    return _status(error) == 429 and (kind.endswith("usage-capped") or title == "UsageCapExceeded")


class Verdict(StrEnum):
    """What a failed attempt means for the request, the app and the run."""

    TRANSIENT = "transient"  # sent again after a backoff
    RATE_LIMITED = "rate-limited"  # sent again when the rate gate lets it
    FAILED = "failed"  # this app is not counted
    REFUSED = "refused"  # the token is refused: the run stops
    SPENT = "spent"  # the account's cap or credits are spent: the run stops
    STOPPED = "stopped"  # not sent (the run is stopping, or the spend cap): passed on as is


@dataclass(frozen=True)
class Rule:
    errors: tuple[type[BaseException], ...]
    verdict: Verdict
    describe: Callable[[Any], str]
    when: Callable[[BaseException], bool] = lambda _error: True


def _fixed(text: str) -> Callable[[Any], str]:
    return lambda _error: text


# first match wins: the order goes from the specific to the general
RULES: tuple[Rule, ...] = (
    Rule((XEnrichmentStopped, XSpendCapReached), Verdict.STOPPED, str),
    Rule((RateLimitWaitTooLong,), Verdict.FAILED, str),
    Rule((tweepy.HTTPException,), Verdict.SPENT, spent_message, _usage_capped),
    Rule((tweepy.TooManyRequests,), Verdict.RATE_LIMITED, _fixed("429 Too Many Requests")),
    Rule((tweepy.Unauthorized, tweepy.Forbidden), Verdict.REFUSED, refusal_message),
    Rule((tweepy.TwitterServerError,), Verdict.TRANSIENT, describe_http_error),
    Rule((tweepy.HTTPException,), Verdict.FAILED, describe_http_error),
    Rule(
        (requests.JSONDecodeError,),
        Verdict.TRANSIENT,
        _fixed("malformed JSON in the X API's reply"),
    ),
    Rule(
        (requests.exceptions.SSLError,),
        Verdict.FAILED,
        _fixed("TLS handshake with the X API failed"),
    ),
    Rule((requests.Timeout,), Verdict.TRANSIENT, _fixed("the X API did not answer in time")),
    Rule(
        (requests.ConnectionError, requests.exceptions.ChunkedEncodingError),
        Verdict.TRANSIENT,
        _fixed("the connection to the X API was lost"),
    ),
    Rule(
        (requests.RequestException,),
        Verdict.FAILED,
        lambda error: f"request to the X API failed ({type(error).__name__})",
    ),
)


def classify(error: BaseException) -> tuple[Verdict, str]:
    """The verdict on a failed attempt and its one-line description."""
    for rule in RULES:
        if isinstance(error, rule.errors) and rule.when(error):
            return rule.verdict, rule.describe(error)
    raise error  # not an API fault: a bug, let it show


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
        ledger = Ledger(self.prices, max_spend)
        self.traffic = Traffic(max_concurrency, gate or RateGate(), shared_slot, ledger)
        self._client = make_client(token, self.base_url, timeout, self.traffic)
        self.account_spent = False  # the stop came from a spent account, not a refused token

    def __repr__(self) -> str:
        return f"XApi(base_url={self.base_url!r})"

    def __enter__(self) -> XApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.session.close()

    @property
    def refusal(self) -> str | None:
        """Why enrichment was stopped (token refused, account spent), or None."""
        return self.traffic.refusal

    @property
    def spent(self) -> Decimal:
        """What this run's requests cost so far."""
        return self.traffic.ledger.spent

    def budget(self, strategy: str) -> Budget:
        """What is left of the rate-limit window of the endpoint `strategy` uses."""
        return self.traffic.gate.budget(ENDPOINTS[strategy])

    def count(self, query: str, strategy: str = "counts", max_pages: int = 10) -> MentionCount:
        """Count one query. Raises `XTokenRefused`, `XUsageCapped` or `XEnrichmentStopped` (the run
        stops); an app the spend cap leaves uncounted is `skipped`, with the reason."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        with self.traffic.metering() as meter:
            try:
                if strategy == "counts":
                    return self._counts(query, meter)
                return self._search(query, max_pages, meter)
            except _MentionFailed as error:
                return self._result(None, "failed", meter, str(error))
            except XSpendCapReached as error:
                if self.traffic.stopped:  # the run is stopping: not the cap's doing
                    raise XEnrichmentStopped("enrichment stopped") from None
                return self._result(None, "skipped", meter, f"not counted: {error}", final=False)

    def _result(
        self, mentions: int | None, status: str, meter: Meter, error: str | None = None, **more: Any
    ) -> MentionCount:
        return MentionCount(
            mentions, status, error, x_requests=meter.requests, posts_consumed=meter.posts,
            x_cost_usd=meter.cost, **more,
        )  # fmt: skip

    def _counts(self, query: str, meter: Meter) -> MentionCount:
        reply = self._request(
            lambda: self._client.get_recent_tweets_count(query, granularity="day"), "counts", meter
        )
        total = reply.meta.get("total_tweet_count")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise _MentionFailed("unexpected reply from the X API: no meta.total_tweet_count")
        buckets = reply.data if isinstance(reply.data, list) else []
        return self._result(
            total, "ok", meter,
            window_start=_parse_time(buckets[0].get("start")) if buckets else None,
            window_end=_parse_time(buckets[-1].get("end")) if buckets else None,
        )  # fmt: skip

    def _search(self, query: str, max_pages: int, meter: Meter) -> MentionCount:
        next_token: str | None = None
        for page in range(max_pages):
            page_call = partial(
                self._client.search_recent_tweets,
                query,
                max_results=SEARCH_PAGE_SIZE,
                next_token=next_token,
            )
            try:
                reply = self._request(page_call, "search", meter)
            except XSpendCapReached as error:
                if page == 0 or self.traffic.stopped:
                    raise
                return self._result(
                    meter.posts, "capped", meter, f"stopped early: {error}", final=False
                )
            next_token = reply.meta.get("next_token")
            if not next_token:
                break
        return self._result(meter.posts, "capped" if next_token else "ok", meter)

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
        if verdict in (Verdict.REFUSED, Verdict.SPENT):
            if verdict is Verdict.SPENT and self.traffic.refusal is None:
                self.account_spent = True
            self.traffic.stop(message)
            raise (XTokenRefused if verdict is Verdict.REFUSED else XUsageCapped)(message) from None
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
        with self.traffic.ledger.hold(self.prices.worst(strategy)) as charge:
            reply = call()
            posts = len(reply.data or []) if strategy == "search" else 0
            cost = self.prices.bill(strategy, posts)
            charge(cost)
        meter.posts += posts
        meter.cost += cost
        return reply
