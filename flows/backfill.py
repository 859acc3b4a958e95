"""The `app-backfill` flow: daily mentions of a selection's apps for the days before a date, from
X's full-archive counts (`GET /2/tweets/counts/all`, pay-per-use), so spikes can be judged from
the first night instead of a month later.

The same plan, spend cap, dry run, progress and ledger as a night (`flows.app_mentions`): the
catalogue read and ranked, each app counted in a task of its own unless the ledger holds it,
then the days and the run stored in one transaction. No snapshot and no files: a backfill adds
history. A plan without archive access stops at the first reply, in one line, storing nothing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import State, flow
from prefect.states import Failed

from flows.catalogue_tasks import check_run, validate_and_rank
from flows.count_tasks import count_mentions, plan_counts
from flows.load_tasks import StoredDays, store_days
from flows.parameters import BACKFILL_DAYS, NightRequest, backfill_name
from flows.resources import open_resources
from transforms.defaults import DEFAULT_TOP_N
from transforms.errors import AppbuzzError
from transforms.plan import Plan


@flow(name="app-backfill", flow_run_name=backfill_name, log_prints=False)
def app_backfill(
    csv_path: Path | None = None,
    genres: list[str] | None = None,
    top_n: int = DEFAULT_TOP_N,
    days: int = BACKFILL_DAYS,
    until: date | None = None,
    max_spend_usd: Decimal | None = None,
    dry_run: bool = False,
    recount: bool = False,
) -> StoredDays | Plan | State[Any]:
    """Count the `days` whole UTC days before `until` (default: the run's scheduled date) for
    the most-reviewed apps of `genres`, one full-archive request per app and 31 days."""
    started_at = datetime.now(UTC)
    try:
        backfill = NightRequest.backfill(
            csv_path=csv_path, genres=genres, top_n=top_n, days=days, until=until,
            max_spend_usd=max_spend_usd, dry_run=dry_run, recount=recount,
        )  # fmt: skip
        with open_resources(backfill.settings, backfill.csv_path, dry_run=dry_run) as resources:
            check_run(resources, None, dry_run)
            ranked = validate_and_rank(resources, backfill.genres, backfill.top_n, False)
            if dry_run:
                return plan_counts(resources, backfill, ranked)
            run = backfill.begin_run(ranked, started_at)
            counted = count_mentions(resources, backfill, ranked, run.run_id)
            return store_days(resources, backfill, counted, run).summary()
    except AppbuzzError as error:
        return Failed(name=error.state_name, message=str(error))
