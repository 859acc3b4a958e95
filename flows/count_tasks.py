"""Counting a night's mentions: the ledger first, then X, one mapped task per app.

The ledger in the database (`sinks.ledger`) is what a run trusts: an app it holds settled for
the night, selection, query, strategy and pages is not asked again, whichever host or Prefect
home ran the earlier attempt; every answer from X is written to it at once. Prefect's result
cache of each app's task (keyed by the same things, never the token nor the API's address)
stays as an accelerator. A failed app returns a `Failed` state (never cached, asked again by a
retry); an app the run's stop or its spend cap left out is not cached either. The task never
retries: faults are retried in the client (`sources.x_api`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl
from prefect import State, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext
from prefect.futures import as_completed
from prefect.states import Completed, Failed
from prefect.transactions import get_transaction

from flows.faults import database_retries
from flows.parameters import NightRequest
from flows.progress import PrefectProgress, RunProgress, console_watchers
from flows.resources import Resources
from flows.run_log import run_logger
from sinks.database import Database
from sources.x_api import MentionCounter
from transforms.catalogue_pass import RankedCatalogue
from transforms.cost import ZERO, usd
from transforms.enrichment import APP_DAY_SCHEMA, Enrichment, NightCounts, Origin, held_by_app
from transforms.errors import (
    DatabaseUnavailable,
    XArchiveForbidden,
    XEnrichmentStopped,
    XTokenRefused,
    XUsageCapped,
)
from transforms.mentions import MentionCount, MentionStatus, mention_results
from transforms.plan import Plan, PlannedApp
from transforms.queries import with_mention_queries

CACHE_VERSION = "x-mentions-v3"
NOT_COUNTED = "not counted: enrichment stopped"
NO_TOKEN = (
    "not counted: no X token (set X_BEARER_TOKEN, or APPBUZZ_X_TOKEN_BLOCK to a Prefect "
    "Secret block holding it)"
)
HELD = "Held"
# states of the apps a task did not ask X for, and where their count came from
ORIGIN_OF_STATE = {
    HELD: Origin.LEDGER,
    "Cached": Origin.CACHE,
    "XTokenRefused": Origin.NOT_ASKED,
    "XUsageCapped": Origin.NOT_ASKED,
    "XArchiveForbidden": Origin.NOT_ASKED,
    "NotCounted": Origin.NOT_ASKED,
}


def count_cache_key(_context: TaskRunContext | None, parameters: dict[str, Any]) -> str | None:
    """What determines a count; never the token nor the address the API was reached at. No
    query: nothing to cache."""
    if parameters.get("query") is None:
        return None
    night: NightCounts = parameters["night"]
    parts = [
        CACHE_VERSION, str(night.snapshot_date), night.selection, parameters["app_id"],
        parameters["query"], night.strategy, night.pages,
    ]  # fmt: skip
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


def _record(
    database: Database, night: NightCounts, app_id: int, query: str, count: MentionCount
) -> None:
    """Into the ledger (and its days) as soon as X has answered. A database that does not take
    it now loses nothing: the night's load writes every count the run holds."""
    queries, now = pl.DataFrame({"id": [app_id], "mention_query": [query]}), datetime.now(UTC)
    days = pl.DataFrame(count.day_rows(app_id), schema=APP_DAY_SCHEMA)
    try:
        database.record_counts(
            night.ledger_rows(mention_results([count.record(app_id)]), queries, now),
            night.day_rows(days, queries, now),
        )
    except DatabaseUnavailable as error:
        run_logger().warning("app %s: %s; the night's load records it", app_id, error)


@task(
    name="count-app-mentions",
    task_run_name="count-mentions-{app_id}",
    cache_key_fn=count_cache_key,
    persist_result=True,
    retries=0,
)
def count_app_mentions(
    app_id: int,
    query: str | None,
    held: MentionCount | None,
    night: NightCounts,
    x: MentionCounter,
    database: Database,
) -> MentionCount | State:
    """One app's count: the ledger's when it holds it, else X's, recorded as soon as X answers.
    A failure is this app's `Failed` state, never an exception."""
    logger = run_logger()
    if held is not None:
        logger.info("app %s: %s mentions (%s), held in the ledger: not asked again",
                    app_id, held.mentions, held.mention_status)  # fmt: skip
        return Completed(name=HELD, data=held)
    if query is None:
        return _failed(MentionCount.failed("the name has no searchable words"))
    try:
        count = x.count(query, night.strategy, night.max_pages, until=night.snapshot_date)
    except (XTokenRefused, XUsageCapped, XArchiveForbidden) as refusal:
        return _not_counted(MentionCount.failed(str(refusal)), type(refusal).__name__)
    except XEnrichmentStopped:
        return _not_counted(MentionCount.failed(NOT_COUNTED), "NotCounted")
    _record(database, night, app_id, query, count)
    if count.mention_status == MentionStatus.FAILED:
        logger.warning("app %s not counted: %s; query %s; %s",
                       app_id, count.mention_error, query, x.budget(night.strategy))  # fmt: skip
        return _failed(count)
    if not count.settled:  # the spend cap, not the API, decided: a retry may do better
        logger.info("app %s: %s", app_id, count.mention_error)
        return _not_counted(count, "SpendCapped")
    logger.info(
        "app %s: %s mentions (%s) in %d request(s), %s; query %s; %s",
        app_id, count.mentions, count.mention_status, count.x_requests, usd(count.x_cost_usd),
        query, x.budget(night.strategy),
    )  # fmt: skip
    return count


@task(
    name="read-ledger", **database_retries(), cache_policy=NO_CACHE,
)  # fmt: skip
def held_counts(resources: Resources, night: NightCounts, apps: pl.DataFrame) -> pl.DataFrame:
    """The night's counts the ledger already holds for these apps, as they would be asked now."""
    ledger = resources.database.night_ledger(night.snapshot_date, night.selection)
    return night.held(apps, ledger)


def _record_of(app_id: int, state: State) -> dict[str, Any]:
    """A task's final state as a count record, with where the count came from."""
    data = state.result(raise_on_failure=False)
    if not isinstance(data, MentionCount):  # the task crashed: a bug, logged by Prefect
        data = MentionCount.failed(f"internal error ({type(data).__name__})")
    origin = ORIGIN_OF_STATE.get(state.name or "", Origin.X)
    return {**data.record(app_id), "came_from": origin.value, "days": data.days}


def count_mentions(
    resources: Resources, night: NightRequest, ranked: RankedCatalogue, run_id: str
) -> Enrichment:
    """Every ranked app's count for the night: held ones from the ledger (unless `recount`),
    the others asked of X, each in a task of its own; without a token, the others skipped."""
    counts = NightCounts(night.snapshot_date, night.selection, night.strategy, night.max_pages,
                         run_id)  # fmt: skip
    apps = with_mention_queries(ranked.top, resources.settings.x_query_template)
    held = {} if night.recount else held_by_app(held_counts(resources, counts, apps))
    ids: Sequence[int] = apps.get_column("id").to_list()
    if resources.x is None:
        run_logger().warning(
            "X_BEARER_TOKEN is not set: mention counts skipped (n_citacoes is null)%s; set "
            "X_BEARER_TOKEN to count mentions on X",
            f", {len(held)} held in the ledger" if held else "",
        )
        return Enrichment.of(apps, _without_x(ids, held), None)
    return Enrichment.of(apps, _ask(resources, counts, apps, held, night.recount), resources.x.stop)


def _without_x(ids: Sequence[int], held: dict[int, MentionCount]) -> list[dict[str, Any]]:
    skipped = MentionCount(None, MentionStatus.SKIPPED.value, NO_TOKEN)
    return [
        {**held[app_id].record(app_id), "came_from": Origin.LEDGER.value}
        if app_id in held
        else {**skipped.record(app_id), "came_from": Origin.NOT_ASKED.value}
        for app_id in ids
    ]


def _ask(
    resources: Resources,
    night: NightCounts,
    apps: pl.DataFrame,
    held: dict[int, MentionCount],
    recount: bool,
) -> list[dict[str, Any]]:
    """One mapped task per app, sharing the run's X client; progress told as apps finish."""
    x = resources.x
    assert x is not None
    ids: list[int] = apps.get_column("id").to_list()
    counter = count_app_mentions.with_options(refresh_cache=True) if recount else count_app_mentions
    storage = resources.result_storage  # a folder of this host, or object storage all read
    if storage is not None:
        counter = counter.with_options(result_storage=storage)
    logger = run_logger()
    progress = RunProgress(
        len(ids), [PrefectProgress(logger, len(ids), "mention counts"), *console_watchers()]
    )
    x.on_wait(progress.wait)
    futures = counter.map(
        ids,
        apps.get_column("mention_query").to_list(),
        [held.get(app_id) for app_id in ids],
        unmapped(night),
        unmapped(x),
        unmapped(resources.database),
    )
    app_of = {future.task_run_id: app_id for future, app_id in zip(futures, ids, strict=True)}
    records: dict[int, dict[str, Any]] = {}
    for future in as_completed(list(futures)):
        future.wait()  # the done callback can come before the final state is kept
        app_id = app_of[future.task_run_id]
        record = records[app_id] = _record_of(app_id, future.state)
        if record["came_from"] == Origin.X:  # what this run spent
            progress.app_done(record["x_requests"], record["x_cost_usd"])
        elif record["came_from"] != Origin.NOT_ASKED:  # counted before: done, nothing spent
            progress.app_done(0, ZERO)
    logger.info("X API spend: %s of the %s allowed", usd(x.spent),
                usd(resources.settings.x_max_spend_usd))  # fmt: skip
    if x.stop is not None:  # the flow's Failed state carries the one line; no duplicate
        logger.info("mention counts stopped: %s", x.stop)
    return [records[app_id] for app_id in ids]


@task(name="plan-counts", cache_policy=NO_CACHE)
def plan_counts(resources: Resources, night: NightRequest, ranked: RankedCatalogue) -> Plan:
    """The dry run's plan: each app's query, which counts the ledger already holds, what the
    others would cost; nothing is sent to X and nothing written."""
    counts = NightCounts(night.snapshot_date, night.selection, night.strategy, night.max_pages,
                         run_id="")  # fmt: skip
    apps = with_mention_queries(ranked.top, resources.settings.x_query_template).sort("rank")
    held = set() if night.recount else set(held_by_app(held_counts.fn(resources, counts, apps)))
    settings = resources.settings
    plan = Plan(
        selection=night.selection,
        strategy=night.strategy,
        max_pages=night.max_pages,
        apps=tuple(
            PlannedApp(r["rank"], r["id"], r["track_name"], r["mention_query"], r["id"] in held)
            for r in apps.iter_rows(named=True)
        ),
        prices=settings.prices,
        max_spend=settings.x_max_spend_usd,
    )
    run_logger().info("\n".join(plan.lines()))
    return plan
