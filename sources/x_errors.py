"""What a failed X API request means, in one table: from the error to a verdict on the request,
the app and the run, with the one line a person reads.

Transient faults (5xx, timeouts, dropped connections, malformed replies) are retried with
backoff; a 429 is sent again once the rate gate lets it; a refused token or a spent account (a
usage-capped 429, a 402: not a rate limit, waiting does not help) stops all enrichment; anything
else fails that app with the API's message. The transport asks the same table about each reply
(`reply_verdict`) before tweepy reads it, so a stop is never decided in two places.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import requests
import tweepy

from transforms.errors import (
    RateLimitWaitTooLong,
    XApiError,
    XArchiveForbidden,
    XEnrichmentStopped,
    XSpendCapReached,
    XTokenRefused,
    XUsageCapped,
)


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


def archive_message(error: tweepy.HTTPException) -> str:
    """A backfill's one line when the plan has no full-archive counts."""
    problem = _problem(error)
    reason = str(problem.get("reason") or problem.get("title") or "forbidden")
    return (
        f"the X API account has no access to the full-archive counts (403 {_one_line(reason, 80)}):"
        " a backfill needs pay-per-use or Enterprise access to GET /2/tweets/counts/all; "
        "nothing was stored"
    )


def _on_the_archive(error: BaseException) -> bool:
    response = getattr(error, "response", None)
    url = str(getattr(response, "url", "") or "")
    return urlsplit(url).path.endswith("/2/tweets/counts/all")


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
    NO_ARCHIVE = "no-archive"  # the plan has no full-archive counts: the backfill stops
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
    Rule((tweepy.Forbidden,), Verdict.NO_ARCHIVE, archive_message, _on_the_archive),
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


# tweepy's exception for each status, as `tweepy.client.BaseClient.request` raises them
_RAISED_AS: tuple[tuple[Callable[[int], bool], type[tweepy.HTTPException]], ...] = (
    (lambda status: status == 400, tweepy.BadRequest),
    (lambda status: status == 401, tweepy.Unauthorized),
    (lambda status: status == 403, tweepy.Forbidden),
    (lambda status: status == 404, tweepy.NotFound),
    (lambda status: status == 429, tweepy.TooManyRequests),
    (lambda status: status >= 500, tweepy.TwitterServerError),
    (lambda status: not 200 <= status < 300, tweepy.HTTPException),
)

# the verdicts that stop every request of the run, and the typed error each is raised as
STOPS_THE_RUN: dict[Verdict, type[XApiError]] = {
    Verdict.REFUSED: XTokenRefused,
    Verdict.SPENT: XUsageCapped,
    Verdict.NO_ARCHIVE: XArchiveForbidden,
}


def reply_verdict(response: requests.Response) -> Verdict | None:
    """The verdict on a reply as tweepy is about to raise it (None: a success)."""
    for matches, kind in _RAISED_AS:
        if matches(response.status_code):
            try:
                error = kind(response)
            except AttributeError:  # a JSON body that is not an object: no problem type
                error = kind(response, response_json={})
            return classify(error)[0]
    return None
