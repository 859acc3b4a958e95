"""Change over time, computed from what is stored: night over night by one SQL query (SQLite and
PostgreSQL), and spikes on the days, judged by `transforms.day_spikes`.

Nothing here is copied into rows: every figure comes from `app_mentions` and `app_mention_days`,
so a backfilled or replaced night changes the trends of the nights after it.

Definitions, per app, snapshot and selection:
- `prev_n_citacoes`: the app's count on its latest earlier night **with a count** in the same
  selection. Nights without a count (`skipped`, `failed`) are gaps, never zeros.
- `change` = `n_citacoes - prev_n_citacoes`; `change_pct` = that as a percentage of
  `prev_n_citacoes` (null when it is 0).
- `prev_rank`: the app's rank on its latest earlier snapshot in the selection (a rank exists
  whether or not X was counted that night).
- `spike`: the night's last whole day (the day before it) is a spike by the daily rule: its
  count against the baseline of the app's earlier whole days (`SpikeRule`); null when that day
  is not stored or has too little history to be judged.
The change columns are null when the app has no earlier night with a count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl
from sqlalchemy import (
    Connection,
    Double,
    Integer,
    Select,
    case,
    cast,
    func,
    inspect,
    null,
    select,
)

from sinks.days import days_of
from sinks.tables import app_mentions
from transforms.day_spikes import SpikeRule, judge_days

ONE_DAY = timedelta(days=1)

# Appended after the files' original columns, in this order (the contract of apps.csv/json).
TREND_COLUMNS = ("prev_n_citacoes", "change", "change_pct", "prev_rank", "spike")
TREND_SCHEMA: dict[str, pl.DataType] = {
    "prev_n_citacoes": pl.Int64(),
    "change": pl.Int64(),
    "change_pct": pl.Float64(),
    "prev_rank": pl.Int32(),
    "spike": pl.Boolean(),
}
TREND_TYPES: dict[str, type] = {
    "prev_n_citacoes": int,
    "change": int,
    "change_pct": float,
    "prev_rank": int,
    "spike": bool,
}
# what the spike events and the pages carry besides: the judged day and its baseline
DAY_VERDICT_SCHEMA: dict[str, pl.DataType] = {
    "day": pl.Date(),
    "day_mentions": pl.Int64(),
    "baseline": pl.String(),
    "baseline_days": pl.Int32(),
    "median": pl.Float64(),
    "score": pl.Float64(),
}


@dataclass(frozen=True)
class Trend:
    """Trend figures of one app on one night (what the files, the dashboard and the events
    carry): the change since the night before, and the verdict on the night's last whole day."""

    snapshot_date: date
    app_id: int
    n_citacoes: int | None
    prev_n_citacoes: int | None
    change: int | None
    change_pct: float | None
    prev_rank: int | None
    spike: bool | None
    day: date | None = None  # the judged day: the last whole day before the night
    day_mentions: int | None = None
    baseline: str | None = None  # weekday, trailing, or None (too little history)
    baseline_days: int | None = None
    median: float | None = None
    score: float | None = None


def _change_select(selection: str, snapshot_date: date | None, app_id: int | None) -> Select[Any]:
    m = app_mentions
    key = (m.c.selection, m.c.app_id)
    # over the app's earlier rows of the selection: the rank of the previous one and the date of
    # the latest one with a count (gaps skipped)
    nights = (
        select(
            m.c.snapshot_date,
            m.c.app_id,
            m.c.selection,
            func.lag(m.c.rank)
            .over(partition_by=key, order_by=m.c.snapshot_date)
            .label("prev_rank"),
            func.max(case((m.c.n_citacoes.is_not(None), m.c.snapshot_date)))
            .over(partition_by=key, order_by=m.c.snapshot_date, rows=(None, -1))
            .label("prev_date"),
        )
        .where(m.c.selection == selection)
        .subquery("nights")
    )
    now = app_mentions.alias("now")
    prev = app_mentions.alias("prev")
    n = now.c.n_citacoes
    change = n - prev.c.n_citacoes
    query = (
        select(
            now.c.snapshot_date,
            now.c.app_id,
            n.label("n_citacoes"),
            prev.c.n_citacoes.label("prev_n_citacoes"),
            change.label("change"),
            case(
                (prev.c.n_citacoes > 0, cast(change, Double) * 100.0 / prev.c.n_citacoes),
                else_=null(),
            ).label("change_pct"),
            cast(nights.c.prev_rank, Integer).label("prev_rank"),
        )
        .select_from(now)
        .join(
            nights,
            (nights.c.selection == now.c.selection)
            & (nights.c.app_id == now.c.app_id)
            & (nights.c.snapshot_date == now.c.snapshot_date),
        )
        .outerjoin(
            prev,
            (prev.c.selection == now.c.selection)
            & (prev.c.app_id == now.c.app_id)
            & (prev.c.snapshot_date == nights.c.prev_date),
        )
        .where(now.c.selection == selection)
        .order_by(now.c.snapshot_date, now.c.rank, now.c.app_id)
    )
    if snapshot_date is not None:
        query = query.where(now.c.snapshot_date == snapshot_date)
    if app_id is not None:
        query = query.where(now.c.app_id == app_id)
    return query


def judged_days(
    connection: Connection,
    selection: str,
    rule: SpikeRule,
    app_ids: Sequence[int] | None,
    first: date,
    last: date,
) -> pl.DataFrame:
    """The stored whole days `first`..`last` of these apps (None: all), each judged by `rule`
    against the app's days before it (`transforms.day_spikes.JUDGED_SCHEMA`)."""
    since = first - timedelta(days=rule.spike_window_days)
    history = days_of(connection, selection, app_ids, since, last)
    return judge_days(history.lazy(), rule).filter(pl.col("day") >= first).collect()


def _trend(night: Mapping[str, Any], verdict: Mapping[str, Any] | None) -> Trend:
    pct = night["change_pct"]
    day: dict[str, Any] = {}
    if verdict is not None:
        day = {
            "spike": verdict["spike"],
            "day": verdict["day"],
            "day_mentions": verdict["mentions"],
            "baseline": verdict["baseline"],
            "baseline_days": verdict["baseline_days"],
            "median": verdict["median"],
            "score": verdict["score"],
        }
    change_pct = None if pct is None else round(float(pct), 2)
    return Trend(**{**night, "change_pct": change_pct, "spike": None, **day})


def trends(
    connection: Connection,
    selection: str,
    rule: SpikeRule,
    snapshot_date: date | None = None,
    app_id: int | None = None,
) -> list[Trend]:
    """Trend figures of `selection`, one per stored app and night (or of one night, one app),
    in date then rank order. Empty when nothing was loaded yet."""
    if not inspect(connection).has_table(app_mentions.name):
        return []
    query = _change_select(selection, snapshot_date, app_id)
    nights = [dict(row._mapping) for row in connection.execute(query)]
    if not nights:
        return []
    first = min(row["snapshot_date"] for row in nights) - ONE_DAY
    last = max(row["snapshot_date"] for row in nights) - ONE_DAY
    apps = sorted({row["app_id"] for row in nights})
    judged = judged_days(connection, selection, rule, apps, first, last)
    verdicts = {(r["app_id"], r["day"]): r for r in judged.iter_rows(named=True)}
    return [
        _trend(night, verdicts.get((night["app_id"], night["snapshot_date"] - ONE_DAY)))
        for night in nights
    ]


def trend_columns(trend: Trend | None) -> dict[str, Any]:
    """The five columns the files and `/apps.*` append (all null for an app without a trend)."""
    return {name: getattr(trend, name) if trend else None for name in TREND_COLUMNS}


def trend_frame(found: list[Trend]) -> pl.DataFrame:
    """Trends of one night as a frame keyed by `id`, typed as the files write them, with the
    verdict on the night's last whole day after them."""
    return pl.DataFrame(
        [
            {"id": t.app_id, **trend_columns(t), **{n: getattr(t, n) for n in DAY_VERDICT_SCHEMA}}
            for t in found
        ],
        schema={"id": pl.Int64(), **TREND_SCHEMA, **DAY_VERDICT_SCHEMA},
        orient="row",
    )
