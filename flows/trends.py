"""The flow's spike events: one per spiking app of the night just loaded.

The night's change is read inside the load's own transaction (`flows.app_mentions.load_snapshot`),
so the events, the files and the API carry the same figures.
"""

from __future__ import annotations

import polars as pl
from prefect import get_run_logger, task

from sinks.events import emit_spikes
from transforms.run_record import RunRecord


@task(name="emit-spike-events")
def emit_spike_events(run: RunRecord, night: pl.DataFrame) -> int:
    """One `appbuzz.mentions.spike` event per spiking app (no retries: never twice per run)."""
    sent = emit_spikes(run, night)
    if sent:
        get_run_logger().info("emitted %d spike event(s)", len(sent))
    return len(sent)
