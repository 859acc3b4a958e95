"""The night's load and what follows it: the ledger brought up to date and the snapshot built
from it, in one transaction with the run's record and the files; then the Prefect artifacts and
the spike events, with the figures the transaction read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.faults import transient_only
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
        return RunSummary(self.run, outputs, trend_note(self.rows))


@task(
    name="load-night", retries=2, retry_delay_seconds=[2, 10],
    retry_condition_fn=transient_only, cache_policy=NO_CACHE,
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
        load.record_counts(ledger.ledger_rows(counted.to_record(), counted.apps, now))
        stored = night_rows(counted.apps, load.counts(counted.apps.get_column("id").to_list()))
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


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish(loaded: LoadedNight) -> None:
    publish_artifacts(loaded.run, loaded.rows, loaded.outputs)


@task(name="emit-spike-events", cache_policy=NO_CACHE)
def emit_spike_events(loaded: LoadedNight) -> int:
    """One `appbuzz.mentions.spike` event per spiking app (no retries: never twice per run)."""
    sent = emit_spikes(loaded.run, loaded.night)
    if sent:
        run_logger().info("emitted %d spike event(s)", len(sent))
    return len(sent)
