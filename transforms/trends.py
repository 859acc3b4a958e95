"""When a count is a spike, and what a person reads about change: the biggest mover and the
spikes of one night (pure Polars).

The figures themselves come from the database (`sinks.trends`); this holds the rule's thresholds
and picks and words the results.
"""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field


class SpikeRule(BaseModel):
    """When a night's count is a spike: settings `APPBUZZ_SPIKE_*` and
    `APPBUZZ_TREND_WINDOW_NIGHTS` (the settings class holds these fields, declared here once)."""

    model_config = ConfigDict(frozen=True)

    spike_min_nights: int = Field(default=7, ge=2, le=365)
    spike_min_mentions: int = Field(default=20, ge=0)
    spike_sigmas: float = Field(default=3.0, gt=0)
    trend_window_nights: int = Field(default=14, ge=2, le=365)


def _signed(value: float, suffix: str = "") -> str:
    sign = "+" if value > 0 else "-" if value < 0 else "±"
    return f"{sign}{abs(value):,.0f}{suffix}" if suffix else f"{sign}{abs(int(value)):,}"


def describe_change(change: int | None, change_pct: float | None) -> str:
    """`+1,234 (+45%)`, `-3 (-1%)`, `±0 (±0%)`; `new` when there is no earlier count."""
    if change is None:
        return "new"
    pct = "" if change_pct is None else f" ({_signed(change_pct, '%')})"
    return f"{_signed(change)}{pct}"


def biggest_mover(rows: pl.DataFrame) -> dict[str, object] | None:
    """The app whose count moved most (absolute change, ties to the better rank), or None."""
    moved = rows.filter(pl.col("change").is_not_null() & (pl.col("change") != 0))
    if moved.is_empty():
        return None
    top = moved.sort([pl.col("change").abs(), pl.col("rank")], descending=[True, False]).row(
        0, named=True
    )
    return top


def spikes(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows flagged as spikes, in rank order."""
    return rows.filter(pl.col("spike").fill_null(False)).sort("rank")


def trend_note(rows: pl.DataFrame) -> str:
    """One clause for the CLI's closing line: the biggest mover and any spike."""
    mover = biggest_mover(rows)
    parts = [
        "no change since the night before"
        if mover is None
        else f"biggest mover {mover['track_name']} "
        f"{describe_change(mover['change'], mover['change_pct'])}"  # type: ignore[arg-type]
    ]
    spiking = spikes(rows)
    if spiking.height:
        names = ", ".join(
            f"{r['track_name']} ({r['n_citacoes']:,})" for r in spiking.iter_rows(named=True)
        )
        parts.append(f"spike: {names}")
    else:
        parts.append("no spike")
    return "; ".join(parts)
