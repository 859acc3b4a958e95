"""Enrichment wiring: one mapped Prefect task per app, all sharing one X API client.

The shared `XApi` carries what must be shared across the mapped tasks: the stop switch, the
concurrency limits and the rate gate. Each task's result is cached by what determines it (query,
strategy, pages, snapshot date, API base URL) and persisted, so a retried flow run reuses the
apps already counted; a failed app returns a `Failed` state, which Prefect never caches, so a
retry asks again for it alone (and an app left uncounted because the token was refused is not
cached either). The task itself never retries: faults are retried in the client.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Any

import polars as pl
from prefect import State, get_run_logger, task, unmapped
from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency
from prefect.context import TaskRunContext
from prefect.exceptions import ObjectNotFound
from prefect.futures import as_completed
from prefect.states import Completed, Failed
from prefect.transactions import get_transaction
from pydantic import SecretStr

from flows.progress import PrefectProgress, RunProgress, console_watchers
from flows.settings import Settings
from sources.rate_limit import RateGate, WaitNotice
from sources.x_api import MentionCount, RetryPolicy, XApi
from transforms.cost import Prices, usd
from transforms.errors import XEnrichmentStopped, XTokenRefused, XUsageCapped
from transforms.mentions import join_mentions, mention_results, skipped_mentions
from transforms.queries import with_mention_queries
from transforms.redaction import safe_url

CACHE_VERSION = "x-mentions-v2"
NOT_COUNTED = "not counted: enrichment stopped"
STOPPED = ("XTokenRefused", "XUsageCapped", "NotCounted")  # states of apps the run's stop left


def mention_cache_key(_context: TaskRunContext | None, parameters: dict[str, Any]) -> str | None:
    """What determines a count; never the token. No query: nothing to cache."""
    if parameters.get("query") is None:
        return None
    strategy = parameters["strategy"]
    parts = [
        CACHE_VERSION,
        parameters["api"].base_url,
        strategy,
        parameters["max_pages"] if strategy == "search" else None,
        str(parameters["snapshot_date"]),
        parameters["query"],
    ]
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()
    return f"{CACHE_VERSION}-{digest}"


def _failed(count: MentionCount) -> State:
    """This app failed (a 400, faults past their retries): a `Failed` state, never cached."""
    return Failed(message=count.mention_error, data=count)


def _not_counted(count: MentionCount, name: str) -> State:
    """The run is stopping (token refused, account spent) or its spend cap left this app out:
    not this app's failure, so not a `Failed` task with a log line of its own (the flow's state
    carries the one message), but not cached either: the retry must ask again."""
    transaction = get_transaction()
    if transaction is not None:
        transaction.write_on_commit = False
    return Completed(name=name, message=count.mention_error, data=count)


@task(
    name="count-app-mentions",
    task_run_name="count-mentions-{app_id}",
    cache_key_fn=mention_cache_key,
    persist_result=True,
    retries=0,
)
def count_app_mentions(
    app_id: int,
    query: str | None,
    api: XApi,
    strategy: str,
    max_pages: int,
    snapshot_date: date,
) -> MentionCount | State:
    """One app's count; a failure is this app's `Failed` state, never an exception."""
    if query is None:
        return _failed(MentionCount(None, "failed", "the name has no searchable words"))
    try:
        count = api.count(query, strategy, max_pages)
    except (XTokenRefused, XUsageCapped) as refusal:
        return _not_counted(MentionCount(None, "failed", str(refusal)), type(refusal).__name__)
    except XEnrichmentStopped:
        return _not_counted(MentionCount(None, "failed", NOT_COUNTED), "NotCounted")
    if not count.final:  # the spend cap, not the API, decided: a retry may do better
        get_run_logger().info("app %s: %s", app_id, count.mention_error)
        return _not_counted(count, "SpendCapped")
    if count.mention_status == "failed":
        get_run_logger().warning(
            "app %s not counted: %s; query %s; %s",
            app_id, count.mention_error, query, api.budget(strategy),
        )  # fmt: skip
        return _failed(count)
    get_run_logger().info(
        "app %s: %s mentions (%s) in %d request(s), %s; query %s; %s",
        app_id, count.mentions, count.mention_status, count.x_requests, usd(count.x_cost_usd),
        query, api.budget(strategy),
    )  # fmt: skip
    return count


# How long a slot stays taken when its holder dies without giving it back (a killed worker):
# the server's minimum (Prefect's default is 5 min), so a crashed night's slots come back about
# when the night is marked Crashed and restarted, not minutes later. Prefect renews the lease
# while a request is still running.
SLOT_LEASE_SECONDS = 60


def prefect_slot(name: str) -> Callable[[], AbstractContextManager[object]] | None:
    """A slot of the Prefect global concurrency limit `name`, if the server has it active."""
    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return None
    if not limit.active:
        return None
    return partial(concurrency, name, occupy=1, strict=True, lease_duration=SLOT_LEASE_SECONDS)


def open_x_api(
    settings: Settings,
    token: SecretStr,
    max_spend: Decimal,
    on_wait: Callable[[WaitNotice], None] | None = None,
) -> XApi:
    slot = prefect_slot(settings.x_concurrency_limit)
    get_run_logger().info(
        "X API at %s: at most %d requests in flight, at most %s spent%s",
        safe_url(settings.x_api_base_url),
        settings.x_max_concurrency,
        usd(max_spend),
        f", within Prefect concurrency limit {settings.x_concurrency_limit!r}" if slot else "",
    )
    return XApi(
        token,
        settings.x_api_base_url,
        timeout=settings.x_timeout_seconds,
        max_concurrency=settings.x_max_concurrency,
        retry=RetryPolicy(settings.x_max_retries, settings.x_retry_base_seconds),
        gate=RateGate(
            margin=settings.x_rate_limit_margin_seconds,
            max_wait=settings.x_max_rate_wait_seconds,
            on_wait=on_wait,
        ),
        shared_slot=slot,
        prices=Prices(settings.x_price_per_request_usd, settings.x_price_per_post_usd),
        max_spend=max_spend,
    )


def result_record(app_id: int, state: State) -> dict[str, Any]:
    """A task's final state as a result row; a cached result spent nothing in this run."""
    data = state.result(raise_on_failure=False)
    if not isinstance(data, MentionCount):  # the task crashed: a bug, logged by Prefect
        data = MentionCount(None, "failed", f"internal error ({type(data).__name__})")
    if state.name == "Cached":
        data = dataclasses.replace(data, x_requests=0, posts_consumed=0, x_cost_usd=Decimal(0))
    record = dataclasses.asdict(data)
    record.pop("final")
    return {"id": app_id, "n_citacoes": record.pop("mentions"), **record}


def enrich_mentions(
    ranked: pl.DataFrame,
    settings: Settings,
    strategy: str,
    max_pages: int,
    snapshot_date: date,
    max_spend: Decimal | None = None,
) -> tuple[pl.DataFrame, XUsageCapped | None]:
    """The ranked apps with their mention columns, and the spent account's error, if it is.

    A refused token loads nothing: `XTokenRefused` is raised. A spent account keeps what was
    counted: `(apps, XUsageCapped)`, the apps left uncounted `failed` with its one message; the
    flow loads them, then fails the run with it. Otherwise `(apps, None)`."""
    logger = get_run_logger()
    apps = with_mention_queries(ranked, settings.x_query_template)
    token = settings.x_bearer_token
    if token is None:
        logger.warning(
            "X_BEARER_TOKEN is not set: mention counts skipped (n_citacoes is null); "
            "set X_BEARER_TOKEN to count mentions on X"
        )
        return skipped_mentions(apps), None
    ids: Sequence[int] = apps.get_column("id").to_list()
    counter = count_app_mentions
    if settings.results_dir is not None:
        counter = counter.with_options(result_storage=settings.results_dir.resolve())
    cap = settings.x_max_spend_usd if max_spend is None else max_spend
    progress = RunProgress(
        len(ids), [PrefectProgress(logger, len(ids), "mention counts"), *console_watchers()]
    )
    with open_x_api(settings, token, cap, progress.wait) as api:
        futures = counter.map(
            ids,
            apps.get_column("mention_query").to_list(),
            unmapped(api),
            unmapped(strategy),
            unmapped(max_pages),
            unmapped(snapshot_date),
        )
        app_of = {future.task_run_id: app_id for future, app_id in zip(futures, ids, strict=True)}
        records: dict[int, dict[str, Any]] = {}
        for future in as_completed(list(futures)):
            future.wait()  # the done callback can come before the final state is kept
            record = records[app_of[future.task_run_id]] = result_record(
                app_of[future.task_run_id], future.state
            )
            if future.state.name not in STOPPED:
                progress.app_done(record["x_requests"], record["x_cost_usd"])
    results = mention_results([records[app_id] for app_id in ids])
    logger.info("X API spend: %s of the %s allowed", usd(api.spent), usd(cap))
    if api.refusal is None:
        return join_mentions(apps, results), None
    # the flow's Failed state carries the one line; no duplicate
    logger.info("mention counts stopped: %s", api.refusal)
    if not api.account_spent:
        raise XTokenRefused(api.refusal)
    uncounted = pl.col("mention_error").is_in([NOT_COUNTED, api.refusal])
    results = results.with_columns(
        pl.when(uncounted)
        .then(pl.lit(api.refusal))
        .otherwise("mention_error")
        .alias("mention_error")
    )
    return join_mentions(apps, results), XUsageCapped(api.refusal)
