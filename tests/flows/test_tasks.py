"""Each task on in-memory resources: the catalogue, the X API and the database swapped for their
in-memory twins (`InMemoryCatalogue`, `InMemoryX`, `Database.in_memory()`), nothing on a network.
The task functions are called as they are (`.fn`), but for `count_mentions`, whose point is the
mapping, which runs in a flow on the session's Prefect server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from prefect import flow
from sqlalchemy import select

from flows.catalogue_tasks import validate_and_rank
from flows.count_tasks import NO_TOKEN, count_app_mentions, count_mentions, plan_counts
from flows.load_tasks import load_night
from flows.parameters import NightRequest
from flows.resources import Resources
from flows.settings import Settings
from sinks.database import Database
from sinks.scratch import Scratch
from sinks.tables import app_mentions, appbuzz_runs
from sources.catalogue import InMemoryCatalogue
from sources.x_memory import SPENT, InMemoryX
from tests.support.catalogues import generated, top_apps
from transforms.enrichment import Enrichment, NightCounts, Origin
from transforms.errors import XTokenRefused, XUsageCapped
from transforms.mentions import MentionCount
from transforms.queries import build_query

NIGHT = date(2026, 11, 28)
SELECTION = "Book+Music/top10"
CATALOGUE = generated(400)
TOP = top_apps(CATALOGUE)
QUERIES = [build_query(name) for name in TOP["track_name"]]
TOTALS = {query: 100 + i for i, query in enumerate(QUERIES)}


@pytest.fixture
def resources(clean_environment: None, tmp_path: Path) -> Iterator[Resources]:
    settings = Settings(out_dir=tmp_path / "out", results_dir=tmp_path / "results")
    with Database.in_memory() as database, Scratch() as scratch:
        database.check()
        yield Resources(
            settings, InMemoryCatalogue(CATALOGUE), database, InMemoryX(TOTALS), scratch
        )


def request(resources: Resources, **more: object) -> NightRequest:
    fields = dict(
        settings=resources.settings, csv_path=None, genres=("Book", "Music"), top_n=10,
        strategy="counts", max_pages=10, snapshot_date=NIGHT, load_catalogue=False,
        recount=False, dry_run=False,
    )  # fmt: skip
    return NightRequest(**{**fields, **more})  # type: ignore[arg-type]


def night(run_id: str = "run-1") -> NightCounts:
    return NightCounts(NIGHT, SELECTION, "counts", 10, run_id)


def ledger(database: Database) -> dict[int, dict]:
    return {r["app_id"]: r for r in database.night_ledger(NIGHT, SELECTION).iter_rows(named=True)}


def test_validate_and_rank_reads_the_catalogue_it_is_handed(resources: Resources) -> None:
    ranked = validate_and_rank.fn(resources, ("Book", "Music"), 10, keep_valid_rows=True)
    assert ranked.top["id"].to_list() == TOP["id"].to_list()
    assert ranked.rows_read == 400 and ranked.rows_rejected == 0
    assert ranked.sha256 == resources.catalogue.sha256 and ranked.valid_rows is not None
    assert (
        ranked.valid_rows.rows == 400 and ranked.valid_rows.path.parent == resources.scratch.folder
    )


def test_an_answer_from_x_is_in_the_ledger_at_once(resources: Resources) -> None:
    app_id, query = TOP["id"][0], QUERIES[0]
    count = count_app_mentions.fn(app_id, query, None, night(), resources.x, resources.database)
    assert isinstance(count, MentionCount) and count.mentions == TOTALS[query] and count.settled
    assert resources.x.asked == [query]  # type: ignore[union-attr]
    row = ledger(resources.database)[app_id]
    assert (row["n_citacoes"], row["mention_query"], row["settled"]) == (TOTALS[query], query, True)
    assert row["x_requests"] == 1 and row["x_cost_usd"] == Decimal("0.005")


def test_a_count_the_ledger_holds_is_not_asked_again(resources: Resources) -> None:
    held = MentionCount(42, "ok", x_requests=1, settled=True)
    state = count_app_mentions.fn(1, QUERIES[0], held, night(), resources.x, resources.database)
    assert state.name == "Held" and state.result() == held
    assert resources.x.asked == []  # type: ignore[union-attr]


@pytest.mark.parametrize(("x", "stop"), [
    (InMemoryX(spent_after=0), "XUsageCapped"), (InMemoryX(refuse_token=True), "XTokenRefused"),
])  # fmt: skip
def test_a_stopped_run_leaves_the_app_uncounted_uncached_and_out_of_the_ledger(
    resources: Resources, x: InMemoryX, stop: str
) -> None:
    state = count_app_mentions.fn(1, QUERIES[0], None, night(), x, resources.database)
    assert state.name == stop and state.is_completed()  # not this app's failure
    assert state.result().mention_status == "failed" and ledger(resources.database) == {}


def test_the_night_is_loaded_from_the_ledger(resources: Resources) -> None:
    ranked = validate_and_rank.fn(resources, ("Book", "Music"), 10, keep_valid_rows=False)
    apps = ranked.top.with_columns(mention_query=pl.Series(QUERIES))
    earlier = MentionCount(9, "ok", x_requests=1, x_cost_usd=Decimal("0.005"), settled=True)
    # an earlier run counted the first app; this run holds it and counted the second
    resources.database.record_counts(
        night("earlier").ledger_rows(
            pl.DataFrame([earlier.record(TOP["id"][0])]), apps, datetime.now(UTC)
        )
    )
    now = MentionCount(5, "ok", x_requests=1, x_cost_usd=Decimal("0.005"), settled=True)
    records = [{**earlier.record(TOP["id"][0]), "came_from": Origin.LEDGER.value},
               {**now.record(TOP["id"][1]), "came_from": Origin.X.value}]  # fmt: skip
    records += [{**MentionCount(None, "skipped", NO_TOKEN).record(app_id),
                 "came_from": Origin.NOT_ASKED.value} for app_id in TOP["id"][2:]]  # fmt: skip
    counted = Enrichment.of(apps, records, None)
    night_request = request(resources)
    run = night_request.begin_run(ranked, datetime.now(UTC))
    loaded = load_night.fn(resources, night_request, ranked, counted, run)

    assert loaded.rows["n_citacoes"].to_list()[:2] == [9, 5]
    assert loaded.rows["mention_status"].to_list() == ["ok", "ok"] + ["skipped"] * 8
    stored = ledger(resources.database)
    assert stored[TOP["id"][0]]["run_id"] == "earlier"  # held: not rewritten
    assert stored[TOP["id"][1]]["run_id"] == run.run_id and len(stored) == 10
    assert (loaded.run.mentions_ok, loaded.run.x_requests) == (2, 1)  # this run paid for one
    with resources.database.engine.connect() as connection:
        rows = connection.execute(select(app_mentions.c.app_id, app_mentions.c.n_citacoes)).all()
        assert connection.scalar(select(appbuzz_runs.c.run_id)) == run.run_id
    assert dict(rows)[TOP["id"][0]] == 9
    assert (resources.settings.out_dir / "apps.json").exists()


def test_a_refused_token_records_the_run_and_loads_nothing(resources: Resources) -> None:
    ranked = validate_and_rank.fn(resources, ("Book", "Music"), 10, keep_valid_rows=False)
    apps = ranked.top.with_columns(mention_query=pl.Series(QUERIES))
    refusal = XTokenRefused("the X API refused X_BEARER_TOKEN (401 Unauthorized)")
    records = [{**MentionCount.failed(str(refusal)).record(app_id), "came_from": "not asked"}
               for app_id in TOP["id"]]  # fmt: skip
    night_request = request(resources)
    run = night_request.begin_run(ranked, datetime.now(UTC))
    with pytest.raises(XTokenRefused):
        load_night.fn(resources, night_request, ranked, Enrichment.of(apps, records, refusal), run)
    with resources.database.engine.connect() as connection:
        assert connection.execute(select(app_mentions)).all() == []
        recorded = connection.execute(select(appbuzz_runs)).mappings().one()
    assert recorded["status"] == "failed" and recorded["message"] == str(refusal)
    assert not (resources.settings.out_dir / "apps.json").exists()


@pytest.mark.usefixtures("prefect_harness")
def test_counting_asks_only_what_the_ledger_lacks_and_stops_with_the_account(
    resources: Resources,
) -> None:
    ranked = validate_and_rank.fn(resources, ("Book", "Music"), 10, keep_valid_rows=False)
    resources.x = InMemoryX(TOTALS, spent_after=4)

    @flow
    def counting(run_id: str) -> Enrichment:
        return count_mentions(resources, request(resources), ranked, run_id)

    stopped = counting("run-1")
    assert isinstance(stopped.stop, XUsageCapped) and str(stopped.stop) == SPENT
    assert len(resources.x.asked) == 4 and len(ledger(resources.database)) == 4
    left_out = stopped.counts.filter(pl.col("came_from") == "not asked")
    assert left_out.height == 6 and set(left_out["mention_error"]) == {SPENT}

    resources.x = InMemoryX(TOTALS)  # the cap lifted, another host, another cache: the ledger
    resources.settings = resources.settings.overridden(results_dir=resources.scratch.folder)
    resumed = counting("run-2")
    assert resumed.stop is None and len(resources.x.asked) == 6
    assert not set(resources.x.asked) & {
        r["mention_query"] for r in ledger_rows(resources, "run-1")
    }
    assert resumed.counts.filter(pl.col("came_from") == "ledger").height == 4
    assert resumed.run_spend()["x_requests"] == 6

    plan = plan_counts.fn(resources, request(resources), ranked)
    assert plan.requests == 0 and all(app.held for app in plan.apps)
    assert plan_counts.fn(resources, request(resources, recount=True), ranked).requests == 10


def ledger_rows(resources: Resources, run_id: str) -> list[dict]:
    return [r for r in ledger(resources.database).values() if r["run_id"] == run_id]
