"""The X API client against the loopback fake, through tweepy over real HTTP."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import SecretStr

from sources.rate_limit import RateGate, WaitNotice
from sources.x_api import RetryPolicy, XApi
from tests.fake_x_api import COUNTS, SEARCH, FakeXApi, serve
from transforms.errors import XEnrichmentStopped, XTokenRefused
from transforms.mentions import MentionCount
from transforms.queries import build_query


def make_api(fake: FakeXApi, *, token: str | None = None, **options) -> XApi:
    return XApi(
        SecretStr(token or fake.token),
        fake.base_url,
        timeout=options.pop("timeout", 5.0),
        max_concurrency=options.pop("max_concurrency", 5),
        retry=RetryPolicy(max_retries=options.pop("max_retries", 3), base_seconds=0.02),
        gate=RateGate(margin=0.05, max_wait=options.pop("max_wait", 30.0)),
    )


QUERIES = [build_query(f"App {i} - tagline") for i in range(12)]


def count_all(api: XApi, queries: list[str], **options) -> list[MentionCount]:
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        return list(pool.map(lambda q: api.count(q, **options), queries))


def test_counts_are_the_services_exact_totals(fake_x_api: FakeXApi) -> None:
    queries = [build_query(n) for n in ('Café "Olé" (OR) -x #1 @me $AAPL lang:en', "読書家 🎵")]
    with make_api(fake_x_api) as api:
        results = count_all(api, QUERIES + queries)
    for query, result in zip(QUERIES + queries, results, strict=True):
        assert result.mention_status == "ok", result
        assert result.mentions == fake_x_api.total_for(query)
        assert result.x_requests == 1 and result.posts_consumed == 0
        assert result.window_end is not None and result.window_start is not None
        assert 6.9 < (result.window_end - result.window_start).total_seconds() / 86400 <= 7
    assert {r.query for r in fake_x_api.requests} == set(QUERIES + queries)
    assert {r.path for r in fake_x_api.requests} == {COUNTS}


def test_a_small_window_is_waited_out_not_hammered(fake_x_api: FakeXApi) -> None:
    fake_x_api.set_rate_limit(4, window_seconds=1.0)
    fake_x_api.latency = 0.02
    with make_api(fake_x_api) as api:
        results = count_all(api, QUERIES)
    assert all(r.mention_status == "ok" for r in results)
    assert [r.mentions for r in results] == [fake_x_api.total_for(q) for q in QUERIES]
    statuses = fake_x_api.statuses()
    assert statuses.count(200) == len(QUERIES)
    assert statuses.count(429) <= 2  # a handful at most; the gate waits for each reset
    assert fake_x_api.max_in_flight <= 4


def test_never_more_than_the_concurrency_in_flight(fake_x_api: FakeXApi) -> None:
    fake_x_api.latency = 0.1
    queries = [build_query(f"Busy {i}") for i in range(20)]
    with make_api(fake_x_api, max_concurrency=5) as api:
        results = count_all(api, queries)
    assert all(r.mention_status == "ok" for r in results)
    assert 2 <= fake_x_api.max_in_flight <= 5


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 500},
        {"kind": "status", "status": 502},
        {"kind": "status", "status": 504},
        {"kind": "drop"},
        {"kind": "slow", "seconds": 1.5},
        {"kind": "malformed"},
    ],
    ids=lambda f: f"{f['kind']}-{f.get('status', '')}",
)
def test_transient_faults_are_retried_to_ok(fake_x_api: FakeXApi, fault: dict) -> None:
    target = QUERIES[0]
    fake_x_api.script(query=target, times=2, **fault)
    with make_api(fake_x_api, timeout=0.5) as api:
        results = count_all(api, QUERIES[:4])
    assert all(r.mention_status == "ok" for r in results), results
    assert results[0].mentions == fake_x_api.total_for(target)
    assert results[0].x_requests == 3 and all(r.x_requests == 1 for r in results[1:])


def test_retries_are_bounded_then_the_app_fails(fake_x_api: FakeXApi) -> None:
    fake_x_api.script("status", status=503, query=QUERIES[0], times=10)
    with make_api(fake_x_api, max_retries=2) as api:
        failed, ok = count_all(api, QUERIES[:2])
    assert failed.mention_status == "failed" and failed.mentions is None
    assert (
        failed.mention_error
        == "503 Service Unavailable: Service Unavailable (gave up after 3 attempts)"
    )
    assert failed.x_requests == 3 and ok.mention_status == "ok"


def test_a_bad_request_fails_that_app_with_the_apis_message(fake_x_api: FakeXApi) -> None:
    fake_x_api.script("status", status=400, query=QUERIES[1])
    with make_api(fake_x_api) as api:
        results = count_all(api, QUERIES[:4])
    assert [r.mention_status for r in results] == ["ok", "failed", "ok", "ok"]
    assert results[1].mention_error == "400 Bad Request: scripted: invalid query"
    assert results[1].x_requests == 1  # a 400 is not retried
    assert len(fake_x_api.requests_for(QUERIES[1])) == 1


def test_an_overlong_query_gets_the_services_own_400(fake_x_api: FakeXApi) -> None:
    with make_api(fake_x_api) as api:
        result = api.count('"' + "x" * 600 + '"')
    assert result.mention_status == "failed"
    assert "longer than 512" in (result.mention_error or "")


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_stops_everything_at_once(fake_x_api: FakeXApi, status: int) -> None:
    fake_x_api.latency = 0.1
    fake_x_api.script("status", status=status, after=3)
    queries = [build_query(f"Refused {i}") for i in range(30)]
    api = make_api(fake_x_api, token=fake_x_api.token)
    refusals: list[str] = []

    def count(query: str) -> MentionCount | None:
        try:
            return api.count(query)
        except XTokenRefused as error:
            refusals.append(str(error))
        except XEnrichmentStopped:
            pass
        return None

    with api, ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(count, queries))
    refusal = next(r for r in fake_x_api.requests if r.status == status)
    late = [r for r in fake_x_api.requests if r.started > refusal.finished + 0.1]
    assert late == []  # nothing was sent after the refusal but what was already in flight
    assert len(fake_x_api.requests) < 15  # so most apps were never asked
    assert refusals and "X_BEARER_TOKEN" in refusals[0] and fake_x_api.token not in refusals[0]
    assert str(api.stop) == refusals[0] and "\n" not in str(api.stop)
    with pytest.raises(XEnrichmentStopped):
        api.count(queries[0])


def test_a_wrong_token_is_refused_with_a_line_that_names_the_setting(fake_x_api: FakeXApi) -> None:
    with (
        make_api(fake_x_api, token="canary-wrong-token") as api,
        pytest.raises(XTokenRefused) as refused,
    ):
        api.count(QUERIES[0])
    assert str(refused.value) == (
        "the X API refused X_BEARER_TOKEN (401 Unauthorized: Unauthorized); "
        "set X_BEARER_TOKEN to a valid app-only bearer token"
    )
    assert fake_x_api.requests[0].authorization == "Bearer canary-wrong-token"


def test_a_429_waits_for_the_reset_second_then_retries(fake_x_api: FakeXApi) -> None:
    fake_x_api.set_rate_limit(100, window_seconds=1.0)
    fake_x_api.script("status", status=429, query=QUERIES[0])
    with make_api(fake_x_api) as api:
        result = api.count(QUERIES[0])
    assert result.mention_status == "ok" and result.x_requests == 2
    refused, retried = fake_x_api.requests
    assert refused.status == 429 and retried.status == 200
    assert retried.started >= int(refused.started + 1.0) + 1  # after the reset second passed


def test_a_reset_beyond_the_allowed_wait_fails_without_asking(fake_x_api: FakeXApi) -> None:
    fake_x_api.set_rate_limit(1, window_seconds=60.0)
    with make_api(fake_x_api, max_wait=1.0) as api:
        first, second = api.count(QUERIES[0]), api.count(QUERIES[1])
    assert first.mention_status == "ok"
    assert second.mention_status == "failed" and second.x_requests == 0
    assert "APPBUZZ_X_MAX_RATE_WAIT_SECONDS" in (second.mention_error or "")
    assert fake_x_api.statuses() == [200]


def test_search_counts_posts_up_to_max_pages(fake_x_api: FakeXApi) -> None:
    totals = {0: 0, 1: 150, 2: 200, 3: 201, 4: 450}
    queries = {i: build_query(f"Search {i}") for i in totals}
    fake_x_api.totals.update({queries[i]: n for i, n in totals.items()})
    with make_api(fake_x_api) as api:
        results = {i: api.count(q, "search", max_pages=2) for i, q in queries.items()}
    for i, total in totals.items():
        result, sent = results[i], fake_x_api.requests_for(queries[i])
        assert result.mentions == min(total, 200) == result.posts_consumed
        assert result.mention_status == ("capped" if total > 200 else "ok")
        assert result.x_requests == len(sent) == max(1, min(2, -(-total // 100)))
        assert all(r.path == SEARCH and r.params["max_results"] == "100" for r in sent)
    with make_api(fake_x_api) as api:
        deep = api.count(queries[4], "search", max_pages=10)
    assert (deep.mentions, deep.mention_status, deep.x_requests) == (450, "ok", 5)


def test_a_gateway_base_url_with_a_path() -> None:
    for fake in serve(path_prefix="/x-gateway"):
        with make_api(fake) as api:
            result = api.count(QUERIES[0])
        assert result.mentions == fake.total_for(QUERIES[0])
        assert fake.requests[0].path == COUNTS


def test_the_token_never_reaches_a_log_or_a_repr(fake_x_api: FakeXApi, caplog) -> None:
    canary = "canary-0123456789abcdef"
    fake_x_api.token = canary
    caplog.set_level(logging.DEBUG)
    fake_x_api.script("status", status=503, query=QUERIES[0])
    fake_x_api.script("status", status=400, query=QUERIES[1])
    with make_api(fake_x_api, token=canary) as api:
        results = count_all(api, QUERIES[:3])
        assert canary not in repr(api) and canary not in repr(results)
    assert "Authorization" in caplog.text and "Bearer ***" in caplog.text  # tweepy did log it
    assert canary not in caplog.text


def test_a_tighter_daily_window_on_the_replies_is_waited_for(fake_x_api: FakeXApi) -> None:
    fake_x_api.daily_limit, fake_x_api.daily_window_seconds = 3, 2.0  # 300 per 15 min otherwise
    notices: list[WaitNotice] = []
    api = XApi(
        SecretStr(fake_x_api.token),
        fake_x_api.base_url,
        retry=RetryPolicy(max_retries=3, base_seconds=0.02),
        gate=RateGate(margin=0.05, on_wait=notices.append),
    )
    with api:
        results = count_all(api, QUERIES[:7])
    assert [r.mentions for r in results] == [fake_x_api.total_for(q) for q in QUERIES[:7]]
    assert fake_x_api.statuses() == [200] * 7  # never sent into the spent daily window
    assert notices and {n.window for n in notices} == {"24-hour"}
    assert all("for the counts 24-hour window, resets" in str(n) for n in notices)


def test_no_slot_of_the_shared_limit_stops_every_count_with_its_reason(
    fake_x_api: FakeXApi,
) -> None:
    """The shared slot gives up (the limit full or the Prefect server away past the bounded
    wait): the run's counts stop at once, the reason kept, and X is asked nothing more."""
    from contextlib import contextmanager

    from transforms.errors import XSlotUnavailable

    calls = []

    @contextmanager
    def no_slot():
        calls.append(1)
        if len(calls) > 2:
            raise XSlotUnavailable("no slot of the Prefect concurrency limit 'x-api' within 300 s")
        yield

    api = XApi(
        SecretStr(fake_x_api.token), fake_x_api.base_url, timeout=5.0, max_concurrency=1,
        retry=RetryPolicy(max_retries=3, base_seconds=0.02), gate=RateGate(margin=0.05),
        shared_slot=no_slot,
    )  # fmt: skip
    with api:
        assert api.count(QUERIES[0]).mentions is not None
        assert api.count(QUERIES[1]).mentions is not None
        with pytest.raises(XEnrichmentStopped):
            api.count(QUERIES[2])
        with pytest.raises(XEnrichmentStopped):
            api.count(QUERIES[3])
    assert isinstance(api.stop, XSlotUnavailable) and "within 300 s" in str(api.stop)
    assert len(fake_x_api.requests) == 2
