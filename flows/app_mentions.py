"""The `app-mentions` flow: catalogue -> validated top apps -> mention counts -> the night's load.

It only wires: the parameters are checked in `flows.parameters`, the resources built once in
`flows.resources`, each step is a task of `flows.catalogue_tasks`, `flows.count_tasks` or
`flows.load_tasks` with its fault policy in its decorator (`flows.faults`). Tasks raise the typed
errors of `transforms.errors`; this flow is the one boundary that turns them into its `Failed`
state with the one-line message (named `Rejected` for a user's mistake). Anything else is a bug
and raises with its traceback.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import State, flow
from prefect.states import Failed

from flows.catalogue_tasks import (
    catalogue_is_new,
    check_run,
    load_catalogue_rows,
    validate_and_rank,
)
from flows.count_tasks import count_mentions, plan_counts
from flows.load_tasks import RunSummary, emit_spike_events, load_night, publish
from flows.parameters import NightRequest, run_name
from flows.resources import open_resources
from transforms.defaults import DEFAULT_TOP_N
from transforms.errors import AppbuzzError
from transforms.plan import Plan

__all__ = ["RunSummary", "app_mentions"]


@flow(name="app-mentions", flow_run_name=run_name, log_prints=False)
def app_mentions(
    csv_path: Path | None = None,
    genres: list[str] | None = None,
    top_n: int = DEFAULT_TOP_N,
    strategy: str = "counts",
    max_pages: int = 10,
    snapshot_date: date | None = None,
    out_dir: Path | None = None,
    load_catalogue: bool = True,
    max_spend_usd: Decimal | None = None,
    dry_run: bool = False,
    recount: bool = False,
) -> RunSummary | Plan | State[Any]:
    """Rank the most-reviewed apps of `genres`, count their mentions on X (the ledger's counts of
    the night reused unless `recount`), load the night and, unless `load_catalogue` is false, the
    validated catalogue, once per file version.

    `max_spend_usd` caps what the run may spend on X (default APPBUZZ_X_MAX_SPEND_USD);
    `dry_run` stops before the first X request and returns the plan, writing nothing.
    """
    started_at = datetime.now(UTC)
    try:
        night = NightRequest.of(
            csv_path=csv_path, genres=genres, top_n=top_n, strategy=strategy, max_pages=max_pages,
            snapshot_date=snapshot_date, out_dir=out_dir, load_catalogue=load_catalogue,
            max_spend_usd=max_spend_usd, dry_run=dry_run, recount=recount,
        )  # fmt: skip
        with open_resources(night.settings, night.csv_path, dry_run=dry_run) as resources:
            check_run(resources, night.out_dir, dry_run)
            keep_rows = catalogue_is_new(resources, load_catalogue and not dry_run)
            ranked = validate_and_rank(resources, night.genres, night.top_n, keep_rows)
            if dry_run:
                return plan_counts(resources, night, ranked)
            load_catalogue_rows(resources, ranked, started_at)
            run = night.begin_run(ranked, started_at)
            counted = count_mentions(resources, night, ranked, run.run_id)
            loaded = load_night(resources, night, ranked, counted, run)
            publish(loaded)
            emit_spike_events(resources, loaded)
            return loaded.summary()
    except AppbuzzError as error:
        return Failed(name=error.state_name, message=str(error))
