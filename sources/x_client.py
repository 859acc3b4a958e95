"""A stock tweepy `Client` whose requests pass through one transport adapter.

tweepy 4.17 hard-codes `https://api.twitter.com`. The adapter mounted for that prefix sends each
request to `X_API_BASE_URL` instead (a gateway, or the loopback fake the tests use), gives it a
timeout (tweepy sets none), and makes it wait its turn: no request leaves after enrichment was
stopped, at most `max_concurrency` are in flight (plus a Prefect global concurrency limit when
one is configured), and none is sent into a spent rate-limit window. Every reply's rate-limit
headers go back to the gate, whatever its status. A reply that the error table
(`sources.x_errors`) says stops the run (the token refused, the account spent) stops all traffic
before its slot frees.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

import requests
import tweepy
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies

from sources.rate_limit import RateGate
from sources.x_errors import STOPS_THE_RUN, reply_verdict
from sources.x_spend import SpendCap
from transforms.cost import ZERO, Prices
from transforms.errors import GateClosed, XApiError, XEnrichmentStopped
from transforms.redaction import RedactingFilter

TWITTER_HOST = "https://api.twitter.com"


# tweepy logs request headers at DEBUG, bearer token included: never let that through
logging.getLogger("tweepy.client").addFilter(RedactingFilter())


@dataclass
class Meter:
    """What one count spent: requests sent, posts returned and their cost."""

    requests: int = 0
    posts: int = 0
    cost: Decimal = field(default_factory=lambda: ZERO)


class Traffic:
    """When a request may leave: the stop switch, the concurrency limits, the rate gate and the
    spend cap; and what each count spent (a meter per thread, one count at a time)."""

    def __init__(
        self,
        max_concurrency: int,
        gate: RateGate,
        shared_slot: Callable[[], AbstractContextManager[object]] | None = None,
        spend_cap: SpendCap | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.gate = gate
        self.spend_cap = spend_cap or SpendCap(Prices(), None)
        self._meters = threading.local()
        self._local = threading.BoundedSemaphore(max_concurrency)
        self._shared_slot = shared_slot or nullcontext
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self.stopped_by: XApiError | None = None

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    def stop(self, reason: XApiError | None = None) -> None:
        """Stop all enrichment now; the first reason given is the one kept."""
        with self._lock:
            if reason is not None and self.stopped_by is None:
                self.stopped_by = reason
        self._stopped.set()
        self.gate.close()
        self.spend_cap.close()

    @contextmanager
    def metering(self) -> Iterator[Meter]:
        """Count what the requests sent from this thread spend, until the block ends."""
        self._meters.current = meter = Meter()
        try:
            yield meter
        finally:
            self._meters.current = Meter()

    @property
    def meter(self) -> Meter:
        current: Meter | None = getattr(self._meters, "current", None)
        if current is None:
            current = self._meters.current = Meter()
        return current

    def pause(self, seconds: float) -> None:
        """Sleep (a backoff), cut short when enrichment is stopped."""
        if self._stopped.wait(seconds):
            raise XEnrichmentStopped("enrichment stopped")

    def _check(self) -> None:
        if self._stopped.is_set():
            raise XEnrichmentStopped("enrichment stopped")

    @contextmanager
    def turn(self, endpoint: str) -> Iterator[None]:
        """Hold a place among the requests in flight and a place in the rate-limit window."""
        self._check()
        with self._local, ExitStack() as held:
            try:
                held.enter_context(self._shared_slot())
            except XApiError as reason:  # no slot within the bounded wait: the run stops
                self.stop(reason)
                raise XEnrichmentStopped("enrichment stopped") from None
            self._check()
            try:
                self.gate.acquire(endpoint)
            except GateClosed:
                raise XEnrichmentStopped("enrichment stopped") from None
            if self._stopped.is_set():
                self.gate.release(endpoint)
                raise XEnrichmentStopped("enrichment stopped")
            self.meter.requests += 1  # from here on the request is on the wire
            yield


class XTransport(HTTPAdapter):
    """Rewrites the API host to the configured base URL and applies `Traffic` to each request."""

    def __init__(self, base_url: str, timeout: float, traffic: Traffic) -> None:
        super().__init__(pool_maxsize=max(10, traffic.max_concurrency))
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.traffic = traffic

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        endpoint = urlsplit(url).path
        if url.startswith(TWITTER_HOST) and self.base_url != TWITTER_HOST:
            request.url = self.base_url + url[len(TWITTER_HOST) :]
            # proxies were chosen for api.twitter.com; choose again for where it really goes
            proxies = get_environ_proxies(request.url) if proxies else proxies
        with self.traffic.turn(endpoint):
            try:
                response = super().send(
                    request,
                    stream=stream,
                    timeout=timeout if timeout is not None else self.timeout,
                    verify=verify,
                    cert=cert,
                    proxies=proxies,
                )
            except BaseException:
                self.traffic.gate.observe(endpoint, None, {})
                raise
            if reply_verdict(response) in STOPS_THE_RUN:
                self.traffic.stop()  # before this slot frees and before tweepy raises
            self.traffic.gate.observe(endpoint, response.status_code, response.headers)
        return response


def make_client(token: SecretStr, base_url: str, timeout: float, traffic: Traffic) -> tweepy.Client:
    """tweepy's own `Client` (app-only bearer token, no in-process rate-limit sleeping)."""
    client = tweepy.Client(bearer_token=token.get_secret_value(), wait_on_rate_limit=False)
    client.session.mount(TWITTER_HOST, XTransport(base_url, timeout, traffic))
    return client
