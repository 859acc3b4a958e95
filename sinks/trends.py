"""Change over time, computed from the stored nights by one SQL query (SQLite and PostgreSQL).

Nothing here is copied into rows: every figure comes from `app_mentions` through window
functions, so a backfilled or replaced night changes the trends of the nights after it.

Definitions, per app, snapshot and selection:
- `prev_n_citacoes`: the app's count on its latest earlier night **with a count** in the same
  selection. Nights without a count (`skipped`, `failed`) are gaps, never zeros.
- `change` = `n_citacoes - prev_n_citacoes`; `change_pct` = that as a percentage of
  `prev_n_citacoes` (null when it is 0).
- `prev_rank`: the app's rank on its latest earlier snapshot in the selection (a rank exists
  whether or not X was counted that night).
- `trailing_mean`, `trailing_sd`: mean and sample standard deviation of the app's counts over
  its previous `window_nights` nights with a count.
- `spike`: the count exceeds the trailing mean by more than `sigmas` standard deviations, with at
  least `min_nights` earlier nights with a count and at least `min_mentions` mentions.
Each of these is null when the app has no earlier night with a count (and `spike` too when the
night itself has none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import (
    Boolean,
    Connection,
    Double,
    Integer,
    Select,
    and_,
    case,
    cast,
    func,
    inspect,
    literal,
    null,
    select,
)

from sinks.tables import app_mentions
from transforms.trends import SpikeRule

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


@dataclass(frozen=True)
class Trend:
    """Trend figures of one app on one night (what the dashboard and the events carry)."""

    snapshot_date: date
    app_id: int
    n_citacoes: int | None
    prev_n_citacoes: int | None
    change: int | None
    change_pct: float | None
    prev_rank: int | None
    spike: bool | None
    trailing_nights: int
    trailing_mean: float | None
    trailing_sd: float | None


def _trend_select(
    selection: str, rule: SpikeRule, snapshot_date: date | None, app_id: int | None
) -> Select[Any]:
    m = app_mentions
    key = (m.c.selection, m.c.app_id)
    counted_n = cast(m.c.n_citacoes, Double)
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
    # over the app's earlier nights with a count only: the trailing window's size, sum, squares
    frame = (-rule.trend_window_nights, -1)

    def trailing(value: Any) -> Any:
        return value.over(partition_by=key, order_by=m.c.snapshot_date, rows=frame)

    counted = (
        select(
            m.c.snapshot_date,
            m.c.app_id,
            trailing(func.count(m.c.n_citacoes)).label("k"),
            trailing(func.sum(counted_n)).label("s"),
            trailing(func.sum(counted_n * counted_n)).label("ss"),
        )
        .where((m.c.selection == selection) & m.c.n_citacoes.is_not(None))
        .subquery("counted")
    )
    now = app_mentions.alias("now")
    prev = app_mentions.alias("prev")
    n = now.c.n_citacoes
    k = cast(counted.c.k, Double)
    mean = counted.c.s / k
    # sample variance; `(n - mean)^2 > sigmas^2 * var` with n > mean needs no sqrt (SQLite)
    variance = case(
        (counted.c.k >= 2, (counted.c.ss - counted.c.s * counted.c.s / k) / (k - 1)), else_=null()
    )
    change = n - prev.c.n_citacoes
    is_spike = and_(
        counted.c.k >= rule.spike_min_nights,
        n >= rule.spike_min_mentions,
        cast(n, Double) > mean,
        (cast(n, Double) - mean) * (cast(n, Double) - mean)
        > literal(rule.spike_sigmas * rule.spike_sigmas, Double) * variance,
    )
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
            case(
                (n.is_(None) | prev.c.n_citacoes.is_(None), null()),
                (is_spike, literal(True, Boolean)),
                else_=literal(False, Boolean),
            ).label("spike"),
            func.coalesce(counted.c.k, 0).label("trailing_nights"),
            case((counted.c.k > 0, mean), else_=null()).label("trailing_mean"),
            variance.label("trailing_variance"),
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
        .outerjoin(
            counted,
            (counted.c.app_id == now.c.app_id) & (counted.c.snapshot_date == now.c.snapshot_date),
        )
        .where(now.c.selection == selection)
        .order_by(now.c.snapshot_date, now.c.rank, now.c.app_id)
    )
    if snapshot_date is not None:
        query = query.where(now.c.snapshot_date == snapshot_date)
    if app_id is not None:
        query = query.where(now.c.app_id == app_id)
    return query


def _trend(row: dict[str, Any]) -> Trend:
    variance = row.pop("trailing_variance")
    pct = row["change_pct"]
    return Trend(
        **{
            **row,
            "change_pct": None if pct is None else round(float(pct), 2),
            "spike": None if row["spike"] is None else bool(row["spike"]),
            "trailing_mean": None if row["trailing_mean"] is None else float(row["trailing_mean"]),
            "trailing_sd": None if variance is None else math.sqrt(max(float(variance), 0.0)),
        }
    )


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
    query = _trend_select(selection, rule, snapshot_date, app_id)
    return [_trend(dict(row._mapping)) for row in connection.execute(query)]


def trend_columns(trend: Trend | None) -> dict[str, Any]:
    """The five columns the files and `/apps.*` append (all null for an app without a trend)."""
    return {name: getattr(trend, name) if trend else None for name in TREND_COLUMNS}


def trend_frame(found: list[Trend]) -> pl.DataFrame:
    """Trends of one night as a frame keyed by `id`, typed as the files write them."""
    return pl.DataFrame(
        [
            {
                "id": t.app_id,
                **trend_columns(t),
                "trailing_nights": t.trailing_nights,
                "trailing_mean": t.trailing_mean,
                "trailing_sd": t.trailing_sd,
            }
            for t in found
        ],
        schema={
            "id": pl.Int64(),
            **TREND_SCHEMA,
            "trailing_nights": pl.Int64(),
            "trailing_mean": pl.Float64(),
            "trailing_sd": pl.Float64(),
        },
        orient="row",
    )
