"""The flow's trend tasks: read the night's change back from the database, emit its spikes.

Both run after the load, so the figures are those the API serves for the same night.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from prefect import get_run_logger, task

from flows.settings import Settings
from sinks.database import make_engine
from sinks.events import emit_spikes
from sinks.trends import trend_frame, trends


@task(name="read-trends", retries=2, retry_delay_seconds=[2, 10])
def snapshot_trends(settings: Settings, run: dict[str, Any]) -> pl.DataFrame:
    """The change columns (and trailing figures) of the night just loaded, keyed by `id`."""
    engine = make_engine(settings.database_url.get_secret_value())
    try:
        with engine.connect() as connection:
            found = trends(connection, run["selection"], settings, run["snapshot_date"])
    finally:
        engine.dispose()
    return trend_frame(found)


@task(name="emit-spike-events")
def emit_spike_events(run: dict[str, Any], rows: pl.DataFrame) -> int:
    """One `appbuzz.mentions.spike` event per spiking app (no retries: never twice per run)."""
    sent = emit_spikes(run, rows)
    if sent:
        get_run_logger().info("emitted %d spike event(s)", len(sent))
    return len(sent)
