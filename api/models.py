"""Response shapes, built from the table columns so the API cannot drift from the database."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, create_model
from sqlalchemy import Column

from api.queries import DAY_COLUMNS, HISTORY_COLUMNS, RUN_COLUMNS, SNAPSHOT_COLUMNS
from sinks.trends import TREND_TYPES
from transforms.mentions import MentionStatus

DESCRIPTIONS = {
    "id": "App Store id",
    "track_name": "app name",
    "n_citacoes": "posts on X mentioning the app in the snapshot's window; null when unknown",
    "size_bytes": "download size in bytes",
    "price": "price in USD",
    "prime_genre": "App Store genre",
    "rank": "1 = most reviewed of the selection",
    "rating_count_tot": "number of ratings, all versions",
    "mention_status": f"one of {', '.join(MentionStatus)} (skipped: no X token)",
    "snapshot_date": "the night the snapshot belongs to",
    "selection": "the run's genres and size, e.g. Book+Music/top10",
    "prev_n_citacoes": "the count on the app's latest earlier night with a count; null if none",
    "change": "n_citacoes - prev_n_citacoes",
    "change_pct": "change as a percentage of prev_n_citacoes",
    "prev_rank": "the app's rank on its previous snapshot of the selection",
    "spike": "count above the trailing mean by more than the set standard deviations",
    "day": "the UTC day",
    "mentions": "posts on X mentioning the app that day (as far as `whole` says)",
    "whole": "false for a partial day: the reply covered only part of it (the window's first "
    "and last day, or today); never judged for spikes",
    "source": "recent (counts/recent), all (a backfill from counts/all) or search",
    "started_at": "UTC",
    "finished_at": "UTC",
}


def _model(
    name: str,
    columns: Mapping[str, Column[Any]],
    doc: str,
    nullable: Mapping[str, type] | None = None,
) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for key, column in columns.items():
        kind: Any = column.type.python_type
        fields[key] = (
            kind | None if column.nullable else kind,
            Field(description=DESCRIPTIONS.get(key)),
        )
    for key, kind in (nullable or {}).items():
        fields[key] = (kind | None, Field(description=DESCRIPTIONS.get(key)))
    return create_model(name, __doc__=doc, **fields)


AppRow = _model(
    "AppRow",
    SNAPSHOT_COLUMNS,
    "One app of a snapshot: the apps.csv/apps.json contract, then the change columns.",
    TREND_TYPES,
)
HistoryPoint = _model("HistoryPoint", HISTORY_COLUMNS, "One app in one snapshot.")
DayPoint = _model("DayPoint", DAY_COLUMNS, "One app's mentions on one UTC day.")
Run = _model("Run", RUN_COLUMNS, "One flow run, as recorded in appbuzz_runs.")


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable")
    database: str = Field(description="the backend: sqlite or postgresql")
    detail: str | None = Field(default=None, description="why the database is unavailable")


class Problem(BaseModel):
    detail: str
