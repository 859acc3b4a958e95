"""Count an app's mentions on X, by either strategy, with the API's faults handled here.

- `counts`: `GET /2/tweets/counts/recent`; the exact total over the last 7 days, no post cap.
- `search`: `GET /2/tweets/search/recent`, 100 posts a page, `next_token` followed up to
  `max_pages` pages; the count is the posts seen, `capped` when pages remained.

Faults, each handled in one place: 5xx, timeouts, dropped connections and malformed replies are
retried here with exponential backoff and jitter (the Prefect task does not retry on top); a 429
waits for the window's reset (the rate gate knows when) and tries again; a 400 or another refusal
of the request marks that app `failed` with the API's message; 401/403 stop all enrichment and
raise `TokenRefused`. No tweepy or requests exception leaves this module: they hold the request,
and the request holds the token.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import requests
import tweepy
from pydantic import SecretStr

from sources.rate_limit import Budget, RateGate, RateLimitWaitTooLong
from sources.x_client import EnrichmentStopped, Traffic, make_client

STRATEGIES = ("counts", "search")
ENDPOINTS = {"counts": "/2/tweets/counts/recent", "search": "/2/tweets/search/recent"}
SEARCH_PAGE_SIZE = 100
MAX_REFUSALS = 5  # 429s in a row for one request before the app is given up
MAX_BACKOFF_SECONDS = 60.0


class TokenRefused(RuntimeError):
    """The X API refused the bearer token (401) or its plan (403): nothing can be counted."""


class _MentionFailed(Exception):
    """This app cannot be counted; the message says why, on one line."""


@dataclass(frozen=True)
class MentionCount:
    """One app's result; `x_requests`/`posts_consumed` are what was spent, even on failure."""

    n_citacoes: int | None
    mention_status: str
    mention_error: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    x_requests: int = 0
    posts_consumed: int = 0


@dataclass
class _Tally:
    requests: int = 0
    posts: int = 0


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe_http_error(error: tweepy.HTTPException) -> str:
    """`400 Bad Request: <the API's message>`, on one line."""
    response = error.response
    status = getattr(response, "status_code", None) or getattr(response, "status", "")
    head = f"{status} {getattr(response, 'reason', '') or ''}".strip()
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


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    base_seconds: float = 1.0

    def delay(self, attempt: int) -> float:
        """Exponential backoff with (equal) jitter: half fixed, half random."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.base_seconds * 2 ** (attempt - 1))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))


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
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.traffic = Traffic(max_concurrency, gate or RateGate(), shared_slot)
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
    def refusal(self) -> str | None:
        """Why enrichment was stopped (the token was refused), or None."""
        return self.traffic.refusal

    def budget(self, strategy: str) -> Budget:
        """What is left of the rate-limit window of the endpoint `strategy` uses."""
        return self.traffic.gate.budget(ENDPOINTS[strategy])

    def count(self, query: str, strategy: str = "counts", max_pages: int = 10) -> MentionCount:
        """Count one query; raises `TokenRefused` or `EnrichmentStopped`, never anything else."""
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        tally = _Tally()
        try:
            if strategy == "counts":
                return self._counts(query, tally)
            return self._search(query, max_pages, tally)
        except _MentionFailed as error:
            return MentionCount(
                n_citacoes=None,
                mention_status="failed",
                mention_error=str(error),
                x_requests=tally.requests,
                posts_consumed=tally.posts,
            )

    def _counts(self, query: str, tally: _Tally) -> MentionCount:
        call = partial(self._client.get_recent_tweets_count, query, granularity="day")
        reply = self._request(call, tally)
        total = reply.meta.get("total_tweet_count")
        if not isinstance(total, int) or isinstance(total, bool) or total < 0:
            raise _MentionFailed("unexpected reply from the X API: no meta.total_tweet_count")
        buckets = reply.data if isinstance(reply.data, list) else []
        return MentionCount(
            n_citacoes=total,
            mention_status="ok",
            window_start=_parse_time(buckets[0].get("start")) if buckets else None,
            window_end=_parse_time(buckets[-1].get("end")) if buckets else None,
            x_requests=tally.requests,
        )

    def _search(self, query: str, max_pages: int, tally: _Tally) -> MentionCount:
        next_token: str | None = None
        for _page in range(max_pages):
            call = partial(
                self._client.search_recent_tweets,
                query,
                max_results=SEARCH_PAGE_SIZE,
                next_token=next_token,
            )
            reply = self._request(call, tally)
            tally.posts += len(reply.data or [])
            next_token = reply.meta.get("next_token")
            if not next_token:
                break
        return MentionCount(
            n_citacoes=tally.posts,
            mention_status="capped" if next_token else "ok",
            x_requests=tally.requests,
            posts_consumed=tally.posts,
        )

    def _request(self, call: partial[Any], tally: _Tally) -> tweepy.Response:
        """One API call, retried through transient faults; raises `_MentionFailed` when spent."""
        transient = refused = 0
        while True:
            tally.requests += 1
            try:
                return call()
            except EnrichmentStopped:
                tally.requests -= 1
                raise
            except RateLimitWaitTooLong as error:
                tally.requests -= 1
                raise _MentionFailed(str(error)) from None
            except tweepy.TooManyRequests:
                refused += 1
                if refused > MAX_REFUSALS:
                    raise _MentionFailed(
                        f"429 Too Many Requests {refused} times in a row from the X API"
                    ) from None
                continue  # the gate holds the next attempt until the window resets
            except (tweepy.Unauthorized, tweepy.Forbidden) as error:
                message = refusal_message(error)
                self.traffic.stop(message)
                raise TokenRefused(message) from None
            except tweepy.TwitterServerError as error:
                fault = describe_http_error(error)
            except tweepy.HTTPException as error:
                raise _MentionFailed(describe_http_error(error)) from None
            except requests.JSONDecodeError:
                fault = "malformed JSON in the X API's reply"
            except requests.exceptions.SSLError:
                raise _MentionFailed("TLS handshake with the X API failed") from None
            except requests.Timeout:
                fault = "the X API did not answer in time"
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                fault = "the connection to the X API was lost"
            except requests.RequestException as error:
                raise _MentionFailed(
                    f"request to the X API failed ({type(error).__name__})"
                ) from None
            transient += 1
            if transient > self.retry.max_retries:
                raise _MentionFailed(f"{fault} (gave up after {transient} attempts)")
            self.traffic.pause(self.retry.delay(transient))
