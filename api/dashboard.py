"""The dashboard's pages as HTML, built from the database: plain functions, no request state.

Each function takes a connection and what the URL asked for, and returns the page (or None when
there is nothing under that name), so a cache or another server can wrap it. Numbers are shown
for people (thousands separators, dates as `30 Nov 2026`), a change is an arrow, a sign and a
number (never only a colour), and a spike is the word "spike" on its row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from sqlalchemy import Connection

from api import queries
from api.charts import DayBar, day_bar_charts, line_charts, sparkline
from sinks.trends import Trend
from transforms.day_spikes import SpikeRule

SPARK_DAYS = 14
HISTORY_PAGE = 100


def _num(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _day(value: date) -> str:
    return f"{value.day} {value:%b %Y}"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _moment(value: datetime) -> str:
    value = _utc(value)
    return f"{value.day} {value:%b %Y %H:%M:%S}"


def _plural(count: int, noun: str) -> str:
    """`1 night`, `2 nights`, `1,234 days`: the number and the noun agree."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _signed(value: int | None) -> str:
    if value is None:
        return "–"
    return f"+{value:,}" if value > 0 else f"-{abs(value):,}" if value < 0 else "0"


def change_html(trend: Trend | None) -> Markup:
    """`▲ +120 (+45.3%)` in green, `▼ -3 (-1.2%)` in red, `no change`, or `new` (no earlier count).

    The arrow and sign carry the meaning; the colour only repeats it. A screen reader hears
    "up" or "down".
    """
    if trend is None or trend.change is None:
        if trend is not None and trend.prev_n_citacoes is not None:
            return Markup('<span class="muted">–</span>')  # this night has no count
        return Markup('<span class="muted">new</span>')
    pct = (
        ""
        if trend.change_pct is None
        else f" ({'+' if trend.change_pct > 0 else ''}{trend.change_pct:,.1f}%)"
    )
    if trend.change > 0:
        arrow, word, css = "▲", "up", "up"
    elif trend.change < 0:
        arrow, word, css = "▼", "down", "down"
    else:
        return Markup('<span class="same">no change</span>')
    return Markup(
        f'<span class="{css}"><span aria-hidden="true">{arrow} </span>'
        f'<span class="sr-only">{word} </span>'
        f"{escape(_signed(trend.change))}{escape(pct)}</span>"
    )


_env = Environment(
    loader=PackageLoader("api", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(
    num=_num,
    day=_day,
    moment=_moment,
    utc=_utc,
    signed=_signed,
    change_html=change_html,
    plural=_plural,
)


def _render(template: str, **context: Any) -> str:
    return _env.get_template(template).render(**context)


def not_found_page(message: str) -> str:
    return _render("missing.html", message=message)


def unavailable_page(reason: str) -> str:
    """The page for a database that does not answer: what happened, and that nothing is lost."""
    return _render("unavailable.html", reason=reason)


def _link(selection: str, night: date) -> str:
    return "/?" + urlencode({"selection": selection, "night": night.isoformat()})


def _reason(row: dict[str, Any]) -> str:
    """Why an app has no count, as the sentence after "not counted:" (the stored message
    starts with those words; the heading already says them)."""
    if row["mention_error"]:
        return str(row["mention_error"]).removeprefix("not counted: ")
    if row["mention_status"] == "skipped":
        return "no X token was set for this run"
    return "no count was recorded"


def _without_hint(reason: str) -> str:
    """The reason without its closing "(set ...)": the remedy says it better, once."""
    return re.sub(r"\s*\((set|raise) [^()]*\)$", "", reason)


# how to get counts, after the reason a night has none
_REMEDIES = {
    "no X token": "set X_BEARER_TOKEN (or APPBUZZ_X_TOKEN_BLOCK) for the runs and run again",
    "usage cap": "a retry once the cap resets counts the apps left (nothing counted is paid twice)",
    "credits are exhausted": "a retry once credits are bought counts the apps left",
    "refused X_BEARER_TOKEN": "set a valid X_BEARER_TOKEN and run the night again",
    "spend cap": "raise APPBUZZ_X_MAX_SPEND_USD (or --max-spend-usd) and run the night again",
}


def _uncounted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The apps without a count, grouped by why: one sentence per reason (and how to get
    counts), not the same sentence ten times."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["n_citacoes"] is None:
            groups.setdefault(_reason(row), []).append(row)
    found = []
    for reason, apps in groups.items():
        remedy = next((fix for key, fix in _REMEDIES.items() if key in reason), None)
        found.append(
            {
                "reason": _without_hint(reason) if remedy else reason,
                "apps": apps,
                "all": len(apps) == len(rows),
                "remedy": remedy,
            }
        )
    return found


def overview_page(
    connection: Connection, rule: SpikeRule, selection: str, night: date | None
) -> str | None:
    """The dashboard of one night of `selection` (default: its newest); None if `night` is not
    one of its snapshots."""
    nights = queries.nights(connection, selection)
    choices = queries.selections(connection)
    if selection not in choices:
        choices = [selection, *choices]
    if night is None:
        night = nights[0] if nights else None
    elif night not in nights:
        return None
    context: dict[str, Any] = {
        "selection": selection,
        "selections": choices,
        "nights": nights,
        "night": night,
        "rule": rule,
        "spark_days": SPARK_DAYS,
    }
    if night is None:
        return _render("overview.html", **context)
    at = nights.index(night)
    rows = queries.night(connection, selection, night, rule)
    # the last whole days before the night (the night's own day is still partial)
    window = [night - timedelta(days=n) for n in range(SPARK_DAYS, 0, -1)]
    days = queries.whole_days_by_app(connection, selection, [r["app_id"] for r in rows], window)
    for row in rows:
        series = [(d, days[row["app_id"]].get(d)) for d in window]
        counted = [(d, v) for d, v in series if v is not None]
        said = "; ".join(f"{_day(d)}: {_num(v)}" for d, v in counted) or "none counted yet"
        row["spark"] = sparkline(
            [(d, None if v is None else float(v)) for d, v in series],
            f"Mentions of {row['track_name']} per day, the {_plural(len(window), 'day')} up to "
            f"{_day(window[-1])}. {said}",
        )
    context.update(
        rows=rows,
        spiking=[r for r in rows if r["trend"] and r["trend"].spike],
        judged=any(r["trend"] and r["trend"].spike is not None for r in rows),
        uncounted=_uncounted(rows),
        previous=nights[at + 1] if at + 1 < len(nights) else None,
        older=_link(selection, nights[at + 1]) if at + 1 < len(nights) else None,
        newer=_link(selection, nights[at - 1]) if at > 0 else None,
    )
    return _render("overview.html", **context)


def app_page(connection: Connection, rule: SpikeRule, app_id: int, selection: str) -> str | None:
    """One app across the nights of `selection`: its mentions per day (bars, the baseline band,
    the spike days), its counts and rank per night, charted and tabled; None if no snapshot of
    the selection holds it."""
    points = queries.app_nights(connection, app_id, selection, rule)
    if not points:
        return None
    name = queries.app_name(connection, app_id, selection) or str(app_id)
    counts = [(p["snapshot_date"], p["n_citacoes"]) for p in points]
    ranks = [(p["snapshot_date"], float(p["rank"])) for p in points]
    days = queries.app_days(connection, app_id, selection, rule)
    bars = [
        DayBar(d["day"], d["mentions"], d["whole"], d["band_low"], d["band_high"], d["spike"])
        for d in days
    ]
    whole = [d for d in days if d["whole"]]
    return _render(
        "app.html",
        app_id=app_id,
        name=name,
        selection=selection,
        points=points,
        days=days,
        whole_days=len(whole),
        spike_days=[d for d in days if d["spike"]],
        gaps=sum(1 for _, v in counts if v is None),
        day_chart=day_bar_charts(bars, f"Mentions of {name} per UTC day"),
        count_chart=line_charts(
            [(d, None if v is None else float(v)) for d, v in counts],
            f"Mentions of {name} per night (the 7 days before each)",
            "mentions",
        ),
        rank_chart=line_charts(ranks, f"Rank of {name} per night", "rank", invert=True),
    )


def _took(run: dict[str, Any]) -> str:
    if run["finished_at"] is None:
        return "–"
    seconds = (run["finished_at"] - run["started_at"]).total_seconds()
    return f"{seconds:,.1f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def history_page(connection: Connection, offset: int) -> str:
    """The run history, newest first, a page of `HISTORY_PAGE` runs from `offset`."""
    runs, total = queries.runs(connection, HISTORY_PAGE, offset)
    for run in runs:
        run["took"] = _took(run)
    return _render("history.html", runs=runs, total=total, offset=offset, limit=HISTORY_PAGE)
