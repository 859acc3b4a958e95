"""The night's load and what follows it: the ledger brought up to date and the snapshot built
from it, in one transaction with the run's record and the files; then the Prefect artifacts and
the spike events, with the figures the transaction read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.faults import database_retries
from flows.parameters import NightRequest
from flows.resources import Resources
from flows.run_log import run_logger
from sinks.artifacts import publish_artifacts
from sinks.events import emit_spikes
from sinks.files import output_rows, prepare_outputs
from sinks.trends import trend_frame
from transforms.catalogue_pass import RankedCatalogue
from transforms.cost import ZERO, usd
from transforms.enrichment import Enrichment, NightCounts, night_rows
from transforms.errors import XApiError
from transforms.run_record import RunRecord
from transforms.trends import trend_note


@dataclass(frozen=True)
class RunSummary:
    """What a completed run returns: its record and where its files are."""

    run: RunRecord
    outputs: dict[str, str]
    trend_note: str | None = None  # the biggest mover and any spike, for the closing line

    def lines(self) -> list[str]:
        """The run's closing line, for a person at a terminal."""
        run = self.run
        return [
            f"{run.selection} on {run.snapshot_date}: "
            f"{run.rows_read:,} rows read, {run.rows_rejected:,} rejected; "
            f"X: {run.x_requests or 0} requests, {run.posts_consumed or 0} posts, "
            f"{usd(run.x_cost_usd or ZERO)}; wrote {', '.join(self.outputs.values())}"
            + (f"; {self.trend_note}" if self.trend_note else "")
        ]


@dataclass(frozen=True)
class LoadedNight:
    """The night as loaded: its record, its rows with their change since the nights before
    (`night`, with the trailing figures the spike events carry), the same shaped as the files'
    contract (`rows`), where the files went, and why counting stopped, if it did."""

    run: RunRecord
    night: pl.DataFrame
    rows: pl.DataFrame
    outputs: dict[str, Path]
    stop: XApiError | None

    def summary(self) -> RunSummary:
        """The run's summary, or the reason counting stopped raised (after the load)."""
        if self.stop is not None:
            raise self.stop
        outputs = {name: str(path) for name, path in self.outputs.items()}
        return RunSummary(self.run, outputs, trend_note(self.night))


@task(
    name="load-night", **database_retries(), cache_policy=NO_CACHE,
)  # fmt: skip
def load_night(
    resources: Resources,
    night: NightRequest,
    ranked: RankedCatalogue,
    counted: Enrichment,
    run: RunRecord,
) -> LoadedNight:
    """In one transaction: the run's counts into the ledger, the night read back from it as the
    snapshot, the run recorded, the night's change read from the stored nights, and the files
    put in place before COMMIT (both or neither). A refused token loads nothing and raises, its
    run recorded; a retry redoes the whole (idempotent) load."""
    database, settings = resources.database, resources.settings
    if not counted.loads:
        database.record_run(run.ended(counted.as_counted(), counted, datetime.now(UTC)))
        raise counted.stop  # type: ignore[misc]  # `loads` is false only with a stop
    ledger = NightCounts(night.snapshot_date, night.selection, night.strategy, night.max_pages,
                         run.run_id)  # fmt: skip
    with database.night(night.snapshot_date, night.selection) as load:
        now = datetime.now(UTC)
        load.record_counts(
            ledger.ledger_rows(counted.to_record(), counted.apps, now),
            ledger.day_rows(counted.days, counted.apps, now),
        )
        ids = counted.apps.get_column("id").to_list()
        stored = night_rows(counted.apps, load.counts(night.strategy, ids))
        run = run.ended(stored, counted, now)
        load.replace_snapshot(run, stored)
        change = trend_frame(load.trends(settings))
        night_frame = stored.with_columns(snapshot_date=pl.lit(night.snapshot_date)).join(
            change, on="id", how="left"
        )
        rows = output_rows(night_frame)
        files = prepare_outputs(settings.out_dir, rows, ranked.rejects)
        load.publish_with_commit(files)
    run_logger().info(
        "loaded %d rows for %s on %s; wrote %s",
        rows.height, night.selection, night.snapshot_date,
        ", ".join(str(p) for p in files.paths.values()),
    )  # fmt: skip
    return LoadedNight(run, night_frame, rows, files.paths, counted.stop)


@dataclass(frozen=True)
class StoredDays:
    """A backfill as stored: its record, the whole days it holds now, and why counting
    stopped, if it did."""

    run: RunRecord
    first: date
    last: date
    whole_days: int
    stop: XApiError | None

    def summary(self) -> StoredDays:
        """Itself, or the reason counting stopped raised (after what was counted is stored)."""
        if self.stop is not None:
            raise self.stop
        return self

    def lines(self) -> list[str]:
        run = self.run
        return [
            f"backfill of {run.selection}: {self.whole_days:,} whole days stored for "
            f"{_day(self.first)} to {_day(self.last)}; X: {run.x_requests or 0} requests, "
            f"{usd(run.x_cost_usd or ZERO)}"
        ]


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


@task(
    name="store-days", **database_retries(), cache_policy=NO_CACHE,
)  # fmt: skip
def store_days(
    resources: Resources, backfill: NightRequest, counted: Enrichment, run: RunRecord
) -> StoredDays:
    """A backfill's counts into the ledger and their days into the days table, with the run's
    record, in one transaction. Stores nothing at all when counting could not start (a plan
    without the archive, a refused token); a spent account keeps what was counted."""
    if not counted.loads:
        raise counted.stop  # type: ignore[misc]  # `loads` is false only with a stop
    ledger = NightCounts(backfill.snapshot_date, backfill.selection, backfill.strategy,
                         backfill.max_pages, run.run_id)  # fmt: skip
    first = backfill.snapshot_date - timedelta(days=backfill.max_pages)
    last = backfill.snapshot_date - timedelta(days=1)
    with resources.database.night(backfill.snapshot_date, backfill.selection) as load:
        now = datetime.now(UTC)
        load.record_counts(
            ledger.ledger_rows(counted.to_record(), counted.apps, now),
            ledger.day_rows(counted.days, counted.apps, now),
        )
        run = run.ended(counted.as_counted(), counted, now)
        load.record_run(run)
        held = load.days(counted.apps.get_column("id").to_list(), first)
    whole = held.filter(pl.col("whole") & (pl.col("day") <= last)).height
    run_logger().info(
        "stored %d whole days of %s, %s to %s", whole, backfill.selection, first, last
    )
    return StoredDays(run, first, last, whole, counted.stop)


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish(loaded: LoadedNight) -> None:
    publish_artifacts(loaded.run, loaded.rows, loaded.outputs, loaded.night)


@task(name="emit-spike-events", cache_policy=NO_CACHE)
def emit_spike_events(resources: Resources, loaded: LoadedNight) -> int:
    """One `appbuzz.mentions.spike` event per spiking app (no retries: never twice per run),
    linking to the app's page when `APPBUZZ_DASHBOARD_URL` says where the dashboard is."""
    sent = emit_spikes(loaded.run, loaded.night, resources.settings.dashboard_url)
    if sent:
        run_logger().info("emitted %d spike event(s)", len(sent))
    return len(sent)
