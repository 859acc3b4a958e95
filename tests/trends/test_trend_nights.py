"""Must-show 1, 2 and 5 of the trends issue, on fifteen nights loaded by real runs.

The oracle is plain Python over the stored rows (no SQL windows): the API, the query on
PostgreSQL, the same query on a SQLite copy of the rows, and the files each night wrote must all
agree with it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, insert

from sinks.events import SPIKE_EVENT
from sinks.files import OUTPUT_COLUMNS
from sinks.tables import app_mention_days, app_mentions, metadata
from sinks.trends import TREND_COLUMNS, trends
from tests.support.polling import wait_for
from tests.support.postgres import table_rows
from tests.trends.nights import (
    FAILED_NIGHT,
    FAILED_RANK,
    FIRST_NIGHT,
    SELECTION,
    SPIKE_DAY,
    TRIPLED_RANK,
    Nights,
    planned_count,
)
from transforms.day_spikes import SpikeRule

ORIGINAL = ("id", "track_name", "n_citacoes", "size_bytes", "price", "prime_genre")


def expected_spike(
    days: dict[date, tuple[int | None, bool]], day: date, rule: SpikeRule
) -> bool | None:
    """The daily rule in plain Python (statistics, no frames): `day` against its baseline."""
    whole = {d: n for d, (n, is_whole) in days.items() if is_whole and n is not None}
    if day not in whole:
        return None
    since = day - timedelta(days=rule.spike_window_days)
    past = [n for d, n in whole.items() if since <= d < day]
    same = [n for d, n in whole.items() if since <= d < day and d.weekday() == day.weekday()]

    def mad(values: list[int]) -> float:
        centre = statistics.median(values)
        return statistics.median(abs(v - centre) for v in values)

    if len(same) >= rule.spike_weekday_min_weeks:
        median, spread_of = statistics.median(same), mad(same)
    elif len(past) >= rule.spike_min_days:
        raised = min(same) if len(same) >= 2 else 0
        median, spread_of = max(statistics.median(past), raised), mad(past)
    else:
        return None
    spread = max(1.4826 * spread_of, rule.spike_mad_floor * median, math.sqrt(max(median, 1)))
    return (whole[day] - median) / spread > rule.spike_threshold and (
        whole[day] >= rule.spike_min_mentions
    )


def expected_trends(
    rows: list[dict[str, Any]], day_rows: list[dict[str, Any]], rule: SpikeRule
) -> dict[tuple[date, int], dict]:
    """The definition, night by night per app, in plain Python: gaps skipped, never zeros; the
    spike of a night is its last whole day's, by the daily rule."""
    days: dict[int, dict[date, tuple[int | None, bool]]] = {}
    for row in day_rows:
        days.setdefault(row["app_id"], {})[row["day"]] = (row["mentions"], row["whole"])
    expected = {}
    by_app: dict[int, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["snapshot_date"]):
        by_app.setdefault(row["app_id"], []).append(row)
    for app_id, nights in by_app.items():
        for i, row in enumerate(nights):
            earlier_counts = [r["n_citacoes"] for r in nights[:i] if r["n_citacoes"] is not None]
            n = row["n_citacoes"]
            prev = earlier_counts[-1] if earlier_counts else None
            change = None if n is None or prev is None else n - prev
            night = row["snapshot_date"]
            expected[(night, app_id)] = {
                "prev_n_citacoes": prev,
                "change": change,
                "change_pct": None if change is None or not prev else round(100 * change / prev, 2),
                "prev_rank": nights[i - 1]["rank"] if i else None,
                "spike": expected_spike(days.get(app_id, {}), night - timedelta(days=1), rule),
            }
    return expected


def test_view_and_api_equal_a_plain_python_computation(
    fifteen_nights: Nights, nights_served: str, tmp_path
) -> None:
    rows = table_rows(fifteen_nights.database_url, app_mentions)
    day_rows = table_rows(fifteen_nights.database_url, app_mention_days)
    assert {r["snapshot_date"] for r in rows} == set(fifteen_nights.nights)
    assert len(rows) == 15 * 10
    expected = expected_trends(rows, day_rows, SpikeRule())

    # the API, night by night
    for night in fifteen_nights.nights:
        served = httpx.get(f"{nights_served}/apps.json", params={"snapshot_date": str(night)})
        for row in served.json():
            assert {k: row[k] for k in TREND_COLUMNS} == expected[(night, row["id"])], (night, row)
    # the query itself on PostgreSQL, and on SQLite over a copy of the same rows
    copy = create_engine(f"sqlite:///{tmp_path / 'copy.db'}")
    metadata.create_all(copy)
    with copy.begin() as connection:
        connection.execute(insert(app_mentions), rows)
        connection.execute(insert(app_mention_days), day_rows)
    for url in (fifteen_nights.database_url, f"sqlite:///{tmp_path / 'copy.db'}"):
        engine = create_engine(url)
        with engine.connect() as connection:
            found = trends(connection, SELECTION, SpikeRule())
        engine.dispose()
        assert len(found) == len(expected)
        for t in found:
            assert {k: getattr(t, k) for k in TREND_COLUMNS} == expected[
                (t.snapshot_date, t.app_id)
            ]

    # every app has a change and a rank change on the last night (all were counted twice)
    last = [v for (night, _), v in expected.items() if night == fifteen_nights.last]
    assert all(v["change"] is not None and v["prev_rank"] is not None for v in last)
    # the tripled app, and only it, is a spike, and only on the last night; the first nights
    # have too few whole days behind them to be judged at all
    tripled = fifteen_nights.app_at(TRIPLED_RANK)
    spikes = sorted(key for key, v in expected.items() if v["spike"])
    assert spikes == [(fifteen_nights.last, tripled["id"])]
    first = [v["spike"] for (night, _), v in expected.items() if night == FIRST_NIGHT]
    assert first == [None] * 10


def test_a_failed_count_is_a_gap_not_a_zero(fifteen_nights: Nights, nights_served: str) -> None:
    failed = fifteen_nights.app_at(FAILED_RANK)
    points = httpx.get(f"{nights_served}/apps/{failed['id']}/history").json()
    by_night = {date.fromisoformat(p["snapshot_date"]): p for p in points}
    assert by_night[FAILED_NIGHT]["mention_status"] == "failed"
    assert by_night[FAILED_NIGHT]["n_citacoes"] is None
    before, after = (FAILED_NIGHT.fromordinal(FAILED_NIGHT.toordinal() + d) for d in (-1, 1))
    at_gap = _row(nights_served, FAILED_NIGHT, failed["id"])
    assert at_gap["change"] is None  # no count to compare; its days were judged all the same
    assert at_gap["prev_n_citacoes"] == by_night[before]["n_citacoes"]
    next_night = _row(nights_served, after, failed["id"])
    # the night after the gap compares with the night before it, not with a zero
    assert next_night["prev_n_citacoes"] == by_night[before]["n_citacoes"]
    assert next_night["change"] == by_night[after]["n_citacoes"] - by_night[before]["n_citacoes"]
    # the failed count took no day away: the replies of the nights around it covered them
    days = {
        r["day"]: r
        for r in table_rows(fifteen_nights.database_url, app_mention_days)
        if r["app_id"] == failed["id"]
    }
    assert all(days[FAILED_NIGHT - timedelta(days=d)]["whole"] for d in range(1, 7))


def _row(base_url: str, night: date, app_id: int) -> dict[str, Any]:
    rows = httpx.get(f"{base_url}/apps.json", params={"snapshot_date": str(night)}).json()
    return next(r for r in rows if r["id"] == app_id)


def test_spike_reaches_prefect_as_one_event(fifteen_nights: Nights) -> None:
    tripled = fifteen_nights.app_at(TRIPLED_RANK)
    query = {
        "filter": {
            "event": {"name": [SPIKE_EVENT]},
            "occurred": {"since": fifteen_nights.started.isoformat()},
        },
        "limit": 50,
    }

    def events() -> list[dict]:
        reply = httpx.post(f"{fifteen_nights.prefect_api_url}/events/filter", json=query)
        reply.raise_for_status()
        return reply.json()["events"]

    found = wait_for(events, timeout=60, what="the spike event to reach the Prefect server")
    assert len(found) == 1, found  # one spiking app, one run: one event
    event = found[0]
    assert event["resource"]["prefect.resource.id"] == f"appbuzz.app.{tripled['id']}"
    assert event["resource"]["appbuzz.selection"] == SELECTION
    assert any(
        r["prefect.resource.id"] == f"appbuzz.selection.{SELECTION}"
        and r["prefect.resource.role"] == "selection"
        for r in event["related"]
    )
    assert any(r["prefect.resource.role"] == "flow-run" for r in event["related"])
    (trend,) = fifteen_nights.trends(fifteen_nights.last, tripled["id"])
    payload = event["payload"]
    assert payload["snapshot_date"] == str(fifteen_nights.last)
    assert payload["day"] == str(SPIKE_DAY) == str(trend.day)
    assert payload["count"] == trend.day_mentions == 3 * planned_count(TRIPLED_RANK - 1, SPIKE_DAY)
    assert payload["median"] == pytest.approx(trend.median)
    assert payload["baseline"] == trend.baseline == "trailing"  # 2 earlier same weekdays only
    assert payload["score"] > SpikeRule().spike_threshold


def test_closing_line_names_the_biggest_mover_and_the_spike(fifteen_nights: Nights) -> None:
    tripled = fifteen_nights.app_at(TRIPLED_RANK)
    line = fifteen_nights.closing_lines[fifteen_nights.last]
    assert f"biggest mover {tripled['track_name']} +" in line
    assert f"spike: {tripled['track_name']} (" in line
    assert fifteen_nights.closing_lines[fifteen_nights.nights[0]].endswith(
        "no change since the night before; no spike"
    )


def test_original_columns_come_first_in_routes_and_files(
    fifteen_nights: Nights, nights_served: str
) -> None:
    """Must-show 5: a client of the original system sees its columns first, in order."""
    served = httpx.get(f"{nights_served}/apps.json").json()
    assert served and all(tuple(row)[:6] == ORIGINAL for row in served)
    assert all(tuple(row) == (*OUTPUT_COLUMNS, *TREND_COLUMNS) for row in served)
    header = next(csv.reader(io.StringIO(httpx.get(f"{nights_served}/apps.csv").text)))
    assert tuple(header[:6]) == ORIGINAL and tuple(header) == (*OUTPUT_COLUMNS, *TREND_COLUMNS)
    # the files the last night wrote hold the same rows, the change columns after the original
    folder = fifteen_nights.out / fifteen_nights.last.isoformat()
    assert json.loads((folder / "apps.json").read_text(encoding="utf-8")) == served
    assert (folder / "apps.csv").read_bytes() == httpx.get(f"{nights_served}/apps.csv").content
