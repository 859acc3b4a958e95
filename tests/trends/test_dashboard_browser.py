"""Must-show 3 and 4: the dashboard, an app's page, the run history and `/docs` in headless
Chromium (Debian's, driven by Playwright; no browser is downloaded), over fifteen real nights.

Pages are read as a person sees them (cell text) and compared with the database. Every request
the browser makes is recorded and must go to the appbuzz server; console errors fail the test.
Screenshots go to `test-artifacts/trends/` (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sinks.tables import app_mentions, appbuzz_runs
from sinks.trends import Trend
from tests.support.browser import chromium
from tests.trends.nights import (
    FAILED_NIGHT,
    FAILED_RANK,
    SELECTION,
    SPIKE_DAY,
    TRIPLED_RANK,
    Nights,
)

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "trends"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        yield browser


class Watched:
    """A page whose requests and console errors are recorded."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def check(self, base_url: str) -> None:
        assert self.requests, "the browser made no request"
        elsewhere = [u for u in self.requests if not u.startswith(f"{base_url}/")]
        assert elsewhere == [], "requests left the appbuzz server"
        assert self.errors == [], self.errors


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    """A page without JavaScript: the dashboard needs none (pickers are a plain form)."""
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    yield Watched(context.new_page())
    context.close()


def _change_text(trend: Trend) -> str:
    assert trend.change is not None and trend.change_pct is not None
    if trend.change == 0:
        return "no change"
    sign = "+" if trend.change > 0 else "-"
    return f"{sign}{abs(trend.change):,} ({'+' if trend.change_pct > 0 else ''}{trend.change_pct:,.1f}%)"


def test_dashboard_shows_the_latest_night_as_stored(
    page: Watched, fifteen_nights: Nights, nights_served: str
) -> None:
    last = fifteen_nights.last
    stored = {
        r["app_id"]: r
        for r in fifteen_nights.rows(
            select(app_mentions).where(
                (app_mentions.c.selection == SELECTION) & (app_mentions.c.snapshot_date == last)
            ),
        )
    }
    found = {t.app_id: t for t in fifteen_nights.trends(snapshot_date=last)}
    page.page.goto(f"{nights_served}/")
    assert page.page.locator("h1").inner_text() == f"{SELECTION} on {last.day} Nov 2026"
    rows = page.page.locator("#apps tbody tr")
    assert rows.count() == 10
    for i in range(10):
        row = rows.nth(i)
        app_id = int(row.get_attribute("data-app-id"))
        db, trend = stored[app_id], found[app_id]
        assert row.locator("td.rank").inner_text().split()[0] == str(db["rank"])
        assert row.locator("th.name").inner_text() == db["track_name"]
        assert row.locator("td.mentions").inner_text() == f"{db['n_citacoes']:,}"
        change = row.locator("td.change").inner_text()
        assert _change_text(trend) in change
        assert ("▲" in change) == (trend.change > 0) and ("▼" in change) == (trend.change < 0)
        assert (row.locator("td.note").inner_text() == "spike") == bool(trend.spike)
        if trend.prev_rank != db["rank"]:
            assert f"(was {trend.prev_rank})" in row.locator("td.rank").inner_text()
        spark = row.locator("svg.spark")
        assert spark.count() == 1
        label = spark.get_attribute("aria-label")
        assert label.count(" 2026: ") == 14  # one entry per day of the last fourteen, all whole
    tripled = fifteen_nights.app_at(TRIPLED_RANK)
    callout = page.page.locator("#spikes").inner_text()
    assert callout.startswith("1 spike this night:") and tripled["track_name"] in callout
    failed = fifteen_nights.app_at(FAILED_RANK)
    assert page.page.locator("#uncounted").inner_text() == "Every app was counted."
    page.page.screenshot(path=SHOTS / "dashboard.png", full_page=True)
    page.page.set_viewport_size({"width": 390, "height": 844})
    page.page.screenshot(path=SHOTS / "dashboard-phone.png", full_page=True)

    page.page.set_viewport_size({"width": 1280, "height": 900})
    # the night picker is a plain form: choose the night with the failed count and submit
    page.page.select_option("select[name=night]", FAILED_NIGHT.isoformat())
    page.page.click("form.pick button[type=submit]")
    assert f"night={FAILED_NIGHT.isoformat()}" in page.page.url
    (error,) = [
        r["mention_error"]
        for r in fifteen_nights.rows(
            select(app_mentions).where(
                (app_mentions.c.snapshot_date == FAILED_NIGHT)
                & (app_mentions.c.mention_status == "failed")
            ),
        )
    ]
    uncounted = page.page.locator("#uncounted li")
    assert uncounted.count() == 1
    assert uncounted.inner_text() == f"1 app not counted ({failed['track_name']}): {error}."
    failed_row = page.page.locator(f'tr[data-app-id="{failed["id"]}"]')
    assert failed_row.locator("td.mentions").inner_text() == "not counted"
    page.page.screenshot(path=SHOTS / "dashboard-failed-night.png", full_page=True)
    page.check(nights_served)


def test_app_page_charts_and_tables_every_night(
    page: Watched, fifteen_nights: Nights, nights_served: str
) -> None:
    tripled = fifteen_nights.app_at(TRIPLED_RANK)
    stored = {
        r["snapshot_date"]: r
        for r in fifteen_nights.rows(
            select(app_mentions).where(app_mentions.c.app_id == tripled["id"])
        )
    }
    found = {t.snapshot_date: t for t in fifteen_nights.trends(app_id=tripled["id"])}
    page.page.goto(f"{nights_served}/")
    page.page.click(f'tr[data-app-id="{tripled["id"]}"] th.name a')  # from the dashboard
    assert page.page.url.startswith(f"{nights_served}/apps/{tripled['id']}")
    assert page.page.locator("h1").inner_text() == f"{tripled['track_name']} (id {tripled['id']})"
    rows = page.page.locator("#nights tbody tr")
    assert rows.count() == len(stored) == 15
    for i in range(rows.count()):
        row = rows.nth(i)
        night = next(d for d in stored if d.isoformat() == row.get_attribute("data-night"))
        assert row.locator("td.rank").inner_text() == str(stored[night]["rank"])
        assert row.locator("td.mentions").inner_text() == f"{stored[night]['n_citacoes']:,}"
        assert (row.locator("td.note").inner_text() == "spike") == bool(found[night].spike)
    charts = page.page.locator("svg.chart:not(.days):visible")  # drawn again for phones, hidden
    assert charts.count() == 2
    for chart in (charts.nth(0), charts.nth(1)):
        labels = chart.locator("text.tick").all_text_contents()
        assert "Nov 1" in labels and "Nov 15" in labels  # the snapshot dates on the axis
        assert chart.locator("circle.dot").count() == 15
    # the days: a bar each, partial ones outlined, the spike day marked, as the table says
    days = page.page.locator("svg.chart.days:visible")
    stored_days = fifteen_nights.days(tripled["id"])
    assert days.locator("rect.bar").count() == len(stored_days)
    partial = [d for d in stored_days if not d["whole"]]
    assert days.locator("rect.bar.partial").count() == len(partial) >= 1  # today's, at least
    assert days.locator("rect.bar.spike").count() == days.locator("text.mark").count() == 1
    spike_row = page.page.locator(f'#days tr[data-day="{SPIKE_DAY.isoformat()}"]')
    assert spike_row.locator("td.note").inner_text() == "spike"
    assert page.page.locator("#days tr[data-whole=false]").count() == len(partial)
    page.page.screenshot(path=SHOTS / "app.png", full_page=True)

    failed = fifteen_nights.app_at(FAILED_RANK)
    page.page.goto(f"{nights_served}/apps/{failed['id']}")
    count_chart = page.page.locator("svg.chart:not(.days):visible").nth(0)
    assert count_chart.locator("circle.dot").count() == 14  # the gap is not drawn as a zero
    assert count_chart.locator("text.gap").count() == 1
    gap_row = page.page.locator(f'#nights tr[data-night="{FAILED_NIGHT.isoformat()}"]')
    assert gap_row.locator("td.mentions").inner_text() == "not counted"
    page.check(nights_served)


def test_run_history_lists_every_run(
    page: Watched, fifteen_nights: Nights, nights_served: str
) -> None:
    runs = {r["run_id"]: r for r in fifteen_nights.rows(select(appbuzz_runs))}
    page.page.goto(f"{nights_served}/")
    page.page.click("header nav >> text=Run history")
    rows = page.page.locator("#runs tbody tr")
    assert rows.count() == len(runs) == 15
    shown = []
    for i in range(rows.count()):
        row = rows.nth(i)
        run = runs[row.get_attribute("data-run-id")]
        shown.append(run["snapshot_date"])
        assert row.locator("td.status").inner_text() == run["status"] == "completed"
        assert row.locator("td.rows-read").inner_text() == f"{run['rows_read']:,}"
        assert row.locator("td.rows-rejected").inner_text() == f"{run['rows_rejected']:,}"
        assert row.locator("td.x-requests").inner_text() == f"{run['x_requests']:,}"
        started = row.locator("td.started time").get_attribute("datetime")
        assert started == run["started_at"].astimezone(UTC).isoformat()
    assert shown == sorted(shown, reverse=True)  # newest first
    page.page.screenshot(path=SHOTS / "history.png", full_page=True)
    page.check(nights_served)


def test_docs_render_with_only_the_appbuzz_server_reachable(
    browser: Any, nights_served: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_appbuzz(route: Any) -> None:
        if route.request.url.startswith(f"{nights_served}/"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_appbuzz)
    page = Watched(context.new_page())
    page.page.goto(f"{nights_served}/docs")
    title = page.page.locator(".swagger-ui .info .title")
    title.wait_for(timeout=30_000)
    assert title.inner_text().startswith("appbuzz")
    summaries = page.page.locator(".opblock-summary-path")
    summaries.first.wait_for(timeout=30_000)
    # Swagger UI puts zero-width spaces after slashes so long paths can wrap
    paths = {text.replace("\u200b", "") for text in summaries.all_inner_texts()}
    assert {
        "/apps.json",
        "/apps.csv",
        "/runs",
        "/apps/{app_id}/history",
        "/apps/{app_id}/days",
        "/healthz",
    } == paths
    page.page.screenshot(path=SHOTS / "docs.png", full_page=True)
    assert blocked == []
    page.check(nights_served)
    context.close()
