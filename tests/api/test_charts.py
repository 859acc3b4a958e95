"""Server-side SVG: gaps are gaps (never drawn at zero), dates on the axis, a text alternative."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

from api.charts import line_chart, line_charts, sparkline

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(6)]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def test_a_gap_splits_the_sparkline_and_is_not_a_point() -> None:
    points = list(zip(DAYS, [10.0, 12.0, None, 11.0, 30.0, 29.0], strict=True))
    svg = parse(sparkline(points, "Mentions, last 6 nights"))
    lines = svg.findall(f"{SVG}polyline")
    assert len(lines) == 2  # before and after the gap
    assert [len(line.get("points").split()) for line in lines] == [2, 3]
    assert svg.get("role") == "img" and svg.find(f"{SVG}title").text == "Mentions, last 6 nights"


def test_line_chart_has_dates_on_the_axis_and_marks_the_gap() -> None:
    points = list(zip(DAYS, [1000.0, 1200.0, None, 1100.0, 3000.0, 2900.0], strict=True))
    svg = parse(line_chart(points, "Mentions of Alpha per night", "mentions"))
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "Nov 1" in ticks and "Nov 6" in ticks and "3,000" in ticks and "0" in ticks
    assert len([c for c in svg.iter(f"{SVG}circle")]) == 5
    assert len([t for t in svg.iter(f"{SVG}text") if t.get("class") == "gap"]) == 1


def test_rank_chart_puts_first_place_on_top() -> None:
    svg = parse(
        line_chart(list(zip(DAYS[:2], [1.0, 5.0], strict=True)), "Rank", "rank", invert=True)
    )
    first, fifth = (float(c.get("cy")) for c in svg.iter(f"{SVG}circle"))
    assert first < fifth  # SVG's y grows downwards


def test_no_value_at_all_says_so() -> None:
    assert "no mentions recorded" in line_chart([(DAYS[0], None)], "Mentions", "mentions")
    assert "not counted" in sparkline([(DAYS[0], None)], "not counted yet")


def _dates(svg: ET.Element) -> list[str]:
    ticks = [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("class") == "tick"]
    return [text for text in ticks if text.startswith("Nov")]


def test_the_phones_drawing_labels_fewer_dates_and_never_crowds_the_last() -> None:
    nights = [date(2026, 11, 1) + timedelta(days=i) for i in range(15)]
    points = [(night, float(i)) for i, night in enumerate(nights)]
    wide, narrow = (
        parse(svg + "</svg>") for svg in line_charts(points, "M", "m").split("</svg>")[:2]
    )
    assert wide.get("class") == "chart wide" and wide.get("viewBox") == "0 0 640 220"
    assert narrow.get("class") == "chart narrow" and narrow.get("viewBox") == "0 0 320 220"
    assert _dates(wide) == [f"Nov {day}" for day in range(1, 16, 2)]
    assert _dates(narrow) == ["Nov 1", "Nov 5", "Nov 9", "Nov 15"]  # not Nov 13 beside Nov 15
    assert len(list(narrow.iter(f"{SVG}circle"))) == len(list(wide.iter(f"{SVG}circle"))) == 15
