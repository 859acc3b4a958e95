"""What a person reads about change: the biggest mover and the spikes of one night (pure
Polars). The figures come from the database (`sinks.trends`); this picks and words them."""

from __future__ import annotations

from datetime import date

import polars as pl


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


def spike_words(row: dict[str, object]) -> str:
    """`Echo Reader (318 on 1 Dec, usually 52)`: the spiking day's count against its usual day,
    when the row carries the day's verdict (else the night's count)."""
    day, count, usual = row.get("day"), row.get("day_mentions"), row.get("median")
    if isinstance(day, date) and isinstance(count, int):
        usually = f", usually {usual:,.0f}" if isinstance(usual, float | int) else ""
        return f"{row['track_name']} ({count:,} on {day.day} {day:%b}{usually})"
    return f"{row['track_name']} ({row['n_citacoes']:,})"


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
        names = ", ".join(spike_words(r) for r in spiking.iter_rows(named=True))
        parts.append(f"spike: {names}")
    else:
        parts.append("no spike")
    return "; ".join(parts)
