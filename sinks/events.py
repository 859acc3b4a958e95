"""Spikes as Prefect events, so a Prefect automation routes them (Slack, e-mail, webhook).

One `appbuzz.mentions.spike` event per spiking app and run; the resource is the app
(`appbuzz.app.<id>`), the selection is a label and a related resource, the payload carries the
count, the trailing mean and standard deviation, and the snapshot date.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from prefect.events import emit_event

from transforms.run_record import RunRecord

SPIKE_EVENT = "appbuzz.mentions.spike"


def spike_events(run: RunRecord, rows: pl.DataFrame) -> list[dict[str, Any]]:
    """The events to emit for `rows` (with the trend columns): one per row flagged `spike`."""
    selection = run.selection
    night = run.snapshot_date.isoformat()
    events = []
    for row in rows.filter(pl.col("spike").fill_null(False)).iter_rows(named=True):
        sd = row["trailing_sd"]
        events.append(
            {
                "event": SPIKE_EVENT,
                "resource": {
                    "prefect.resource.id": f"appbuzz.app.{row['id']}",
                    "prefect.resource.name": str(row["track_name"]),
                    "appbuzz.selection": selection,
                    "appbuzz.snapshot-date": night,
                },
                "related": [
                    {
                        "prefect.resource.id": f"appbuzz.selection.{selection}",
                        "prefect.resource.role": "selection",
                        "prefect.resource.name": selection,
                    }
                ],
                "payload": {
                    "app_id": row["id"],
                    "track_name": row["track_name"],
                    "selection": selection,
                    "snapshot_date": night,
                    "count": row["n_citacoes"],
                    "mean": row["trailing_mean"],
                    "deviation": sd,
                    "sigmas": None if not sd else (row["n_citacoes"] - row["trailing_mean"]) / sd,
                    "prev_n_citacoes": row["prev_n_citacoes"],
                    "trailing_nights": row["trailing_nights"],
                },
            }
        )
    return events


def emit_spikes(run: RunRecord, rows: pl.DataFrame) -> list[str]:
    """Emit the spike events of one run; the ids of the events sent."""
    sent = []
    for spec in spike_events(run, rows):
        event = emit_event(**spec)
        if event is not None:  # None: no Prefect API to send to (events are then dropped)
            sent.append(str(event.id))
    return sent
