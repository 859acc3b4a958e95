"""Charts as server-side SVG: a few hundred bytes inline in the page, no JavaScript, no library.

A night without a count is a gap in the line (never a zero), marked on the axis. Days are bars: a
partial day outlined, a spike day marked ▲, the baseline band behind. A chart is drawn twice, for
a wide screen and for a phone's (the page shows one), so its text stays legible.
Every chart carries a text alternative (`<title>` and `aria-label`); the page also shows the
same numbers in a table, so nothing depends on seeing the drawing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

Point = tuple[date, float | None]


def _segments(xy: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Runs of consecutive points with a value: a gap ends a segment."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, y in xy:
        if y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x, y))
    return [run for run in runs if run]


def _path(run: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in run)


def _scale(
    lo: float, hi: float, top: float, bottom: float, invert: bool
) -> Callable[[float], float]:
    span = (hi - lo) or 1.0

    def y(value: float) -> float:
        share = (value - lo) / span
        return top + share * (bottom - top) if invert else bottom - share * (bottom - top)

    return y


def sparkline(points: Sequence[Point], label: str, width: int = 120, height: int = 28) -> str:
    """A small line of the last nights' counts; the newest point is a dot."""
    values = [v for _, v in points if v is not None]
    if not values:  # a dash in the cell; the sentence is for screen readers, and takes no room
        return (
            f'<span class="muted"><span aria-hidden="true">–</span>'
            f'<span class="sr-only">{escape(label)}</span></span>'
        )
    pad = 3.0
    y = _scale(min(values), max(values), pad, height - pad, invert=False)
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    xy = [(pad + i * step, None if v is None else y(v)) for i, (_, v) in enumerate(points)]
    lines = "".join(
        f'<polyline points="{_path(run)}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
        if len(run) > 1
        else f'<circle cx="{run[0][0]:.1f}" cy="{run[0][1]:.1f}" r="1.5" fill="currentColor"/>'
        for run in _segments(xy)
    )
    last_x, last_y = xy[-1]
    dot = (
        ""
        if last_y is None
        else f'<circle cx="{last_x:.1f}" cy="{last_y:.1f}" r="2.5" fill="currentColor"/>'
    )
    return (
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{lines}{dot}</svg>'
    )


def _ticks(lo: float, hi: float, integer: bool) -> list[float]:
    if hi == lo:
        return [lo]
    mid = (lo + hi) / 2
    ticks = [lo, mid, hi]
    return sorted({round(t) for t in ticks}) if integer else ticks


def line_chart(
    points: Sequence[Point],
    title: str,
    unit: str,
    invert: bool = False,
    width: int = 640,
    height: int = 220,
    dates: int = 7,
    kind: str = "wide",
) -> str:
    """A line chart with the snapshot dates on the x axis; `invert` puts 1 at the top (ranks).

    About `dates` dates are labelled; `kind` is a class the page's CSS picks a drawing by.
    """
    values = [v for _, v in points if v is not None]
    left, right, top, bottom = 56.0, 28.0, 16.0, height - 44.0
    plot_w = width - left - right
    parts = [
        f'<svg class="chart {kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>',
    ]
    if not values:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no {escape(unit)} '
            "recorded</text></svg>"
        )
        return "".join(parts)
    lo, hi = min(values), max(values)
    if invert:
        lo, hi = 1.0, max(hi, 2.0)  # ranks: from first place down to the lowest one held
    else:
        lo = 0.0  # counts: the axis starts at zero, so a change is not exaggerated
    y = _scale(lo, hi, top, bottom, invert)
    for tick in _ticks(lo, hi, integer=True):
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{tick:,.0f}</text>"
        )
    step = plot_w / max(len(points) - 1, 1)
    xs = [left + i * step if len(points) > 1 else left + plot_w / 2 for i in range(len(points))]
    every = max(1, round(len(points) / dates))
    last = len(points) - 1
    for i, (night, value) in enumerate(points):
        if (i % every == 0 and last - i >= every) or i == last:  # the last, never crowded
            parts.append(
                f'<text class="tick" x="{xs[i]:.1f}" y="{bottom + 16}" text-anchor="middle">'
                f"{night:%b %-d}</text>"
            )
        if value is None:  # a gap: marked under the axis, never drawn as a zero
            parts.append(
                f'<text class="gap" x="{xs[i]:.1f}" y="{bottom - 4}" text-anchor="middle">'
                f"×<title>{night.isoformat()}: no {escape(unit)}</title></text>"
            )
    xy = [(xs[i], None if v is None else y(v)) for i, (_, v) in enumerate(points)]
    for run in _segments(xy):
        if len(run) > 1:
            parts.append(f'<polyline class="line" points="{_path(run)}"/>')
    for i, (night, value) in enumerate(points):
        if value is not None:
            parts.append(
                f'<circle class="dot" cx="{xs[i]:.1f}" cy="{y(value):.1f}" r="3">'
                f"<title>{night.isoformat()}: {value:,.0f} {escape(unit)}</title></circle>"
            )
    parts.append(
        f'<text class="tick" x="{left + plot_w / 2:.0f}" y="{height - 6}" '
        f'text-anchor="middle">snapshot date</text></svg>'
    )
    return "".join(parts)


def line_charts(points: Sequence[Point], title: str, unit: str, invert: bool = False) -> str:
    """The chart drawn for a wide screen and again for a phone's, where the wide drawing, scaled
    down, would print its 12-unit text at 5 px. The page's CSS shows one; the other is
    `display: none`, so a screen reader meets one chart too."""
    return line_chart(points, title, unit, invert) + line_chart(
        points, title, unit, invert, width=320, dates=4, kind="narrow"
    )


@dataclass(frozen=True)
class DayBar:
    """One day of a bar chart: its count, whether the count covers the whole day, and the
    baseline it was judged against (`low`..`high`, the band; `spike` when above it)."""

    day: date
    mentions: int
    whole: bool
    low: float | None = None
    high: float | None = None
    spike: bool = False


def day_bars(
    days: Sequence[DayBar],
    title: str,
    width: int = 640,
    height: int = 240,
    dates: int = 7,
    kind: str = "wide",
) -> str:
    """Mentions per day as bars: whole days solid; a partial day (the window's edges, today)
    outlined and dashed (its title says so); the baseline band shaded behind the bars; a spike
    day in the spike colour with a ▲ above it (the mark, not the colour, carries it)."""
    left, right, top, bottom = 56.0, 16.0, 22.0, height - 44.0
    plot_w = width - left - right
    parts = [
        f'<svg class="chart days {kind}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    if not days:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle">no day counted yet'
            "</text></svg>"
        )
        return "".join(parts)
    hi = max(max(d.mentions for d in days), *(d.high or 0.0 for d in days), 1.0)
    y = _scale(0.0, hi, top, bottom, invert=False)
    slot = plot_w / len(days)
    bar = max(2.0, slot * 0.7)
    for tick in _ticks(0.0, hi, integer=True):
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{tick:,.0f}</text>"
        )
    every = max(1, round(len(days) / dates))
    last = len(days) - 1
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        if d.low is not None and d.high is not None:  # the baseline band, behind the bar
            band_top, band_bottom = y(d.high), y(max(d.low, 0.0))
            parts.append(
                f'<rect class="band" x="{left + i * slot:.1f}" y="{band_top:.1f}" '
                f'width="{slot:.1f}" height="{max(band_bottom - band_top, 0.5):.1f}"/>'
            )
        top_y = y(d.mentions)
        css = "bar spike" if d.spike else "bar" if d.whole else "bar partial"
        what = "spike" if d.spike else "whole day" if d.whole else "partial day"
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="{top_y:.1f}" width="{bar:.1f}" '
            f'height="{max(bottom - top_y, 0.5):.1f}"><title>{d.day.isoformat()}: '
            f"{d.mentions:,} mentions ({what})</title></rect>"
        )
        if d.spike:
            parts.append(
                f'<text class="mark" x="{x + bar / 2:.1f}" y="{top_y - 4:.1f}" '
                'text-anchor="middle">▲</text>'
            )
        if (i % every == 0 and last - i >= every) or i == last:
            # the last label ends at its bar, so it stays inside the chart
            at, anchor = (x + bar, "end") if i == last else (x + bar / 2, "middle")
            parts.append(
                f'<text class="tick" x="{at:.1f}" y="{bottom + 16}" '
                f'text-anchor="{anchor}">{d.day:%b %-d}</text>'
            )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{bottom}" x2="{width - right}" y2="{bottom}"/>'
        f'<text class="tick" x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
        "UTC day</text></svg>"
    )
    return "".join(parts)


def day_bar_charts(days: Sequence[DayBar], title: str) -> str:
    """The bars drawn for a wide screen and again for a phone's (as `line_charts`)."""
    return day_bars(days, title) + day_bars(days, title, width=320, dates=3, kind="narrow")
