"""Spikes as Prefect events, so a Prefect automation routes them (Slack, e-mail, webhook).

One `appbuzz.mentions.spike` event per spiking app and run; the resource is the app
(`appbuzz.app.<id>`), the selection is a label and a related resource, the payload carries the
day judged (the night's last whole day), its count, the baseline it was judged on (weekday or
trailing, its days and median), the robust score, and a link to the app's page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import polars as pl
from prefect.events import emit_event

from transforms.run_record import RunRecord

SPIKE_EVENT = "appbuzz.mentions.spike"


def spike_events(
    run: RunRecord, rows: pl.DataFrame, dashboard_url: str | None = None
) -> list[dict[str, Any]]:
    """The events to emit for `rows` (with the trend columns and the verdict on each app's last
    whole day, `sinks.trends.DAY_VERDICT_SCHEMA`): one per row flagged `spike`. With
    `dashboard_url`, each links to the app's page."""
    selection = run.selection
    night = run.snapshot_date.isoformat()
    events = []
    for row in rows.filter(pl.col("spike").fill_null(False)).iter_rows(named=True):
        page = (
            f"{dashboard_url.rstrip('/')}/apps/{row['id']}?{urlencode({'selection': selection})}"
            if dashboard_url
            else None
        )
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
                    "day": row["day"].isoformat(),
                    "count": row["day_mentions"],
                    "baseline": row["baseline"],
                    "baseline_days": row["baseline_days"],
                    "median": row["median"],
                    "score": row["score"],
                    "link": page,
                },
            }
        )
    return events


def emit_spikes(run: RunRecord, rows: pl.DataFrame, dashboard_url: str | None = None) -> list[str]:
    """Emit the spike events of one run; the ids of the events sent."""
    sent = []
    for spec in spike_events(run, rows, dashboard_url):
        event = emit_event(**spec)
        if event is not None:  # None: no Prefect API to send to (events are then dropped)
            sent.append(str(event.id))
    return sent
