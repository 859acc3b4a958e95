"""The first pages a newcomer sees, as the README's quick start leaves them: a night run on the
shipped sample with no X token, then `appbuzz serve`. Nothing counted yet, and the pages say so
once, with what to do, in sentences whose numbers agree; no text runs out of its box at a
phone's width or a desktop's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import chromium
from tests.support.serve import Served, serving

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "first-page"
WIDTHS = (320, 390, 1280)
# every element whose text could run out of its box
OVERFLOWING = """() => [...document.querySelectorAll(
    'td, th, caption, p, li, h1, h2, figcaption, label, a, .badge')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline')
  .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 60))"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        yield browser


@pytest.fixture
def first_night(run_cli, sqlite_url: str, tmp_path: Path) -> Iterator[Served]:
    done = run_cli("run", "--database-url", sqlite_url, env={"X_BEARER_TOKEN": ""})
    assert done.returncode == 0, done.stderr[-2000:]
    with serving(sqlite_url, tmp_path / "serve.log") as server:
        yield server


def _look(browser: Any, url: str, width: int, shot: str) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900})
    page.goto(url)
    page.screenshot(path=SHOTS / f"{shot}-{width}.png", full_page=True)
    assert page.evaluate(OVERFLOWING) == [], f"text runs out of its box at {width} px"
    assert page.evaluate("document.documentElement.scrollWidth") == width  # no sideways page
    return page


def test_a_night_without_a_token_says_why_once_and_how_to_count(
    browser: Any, first_night: Served
) -> None:
    for width in WIDTHS:
        page = _look(browser, f"{first_night.base_url}/", width, "dashboard")
        assert page.locator("td.mentions .badge").all_inner_texts() == ["not counted"] * 10
        assert page.locator("#uncounted li").all_inner_texts() == [
            "No app was counted: no X token. To count them, set X_BEARER_TOKEN (or "
            "APPBUZZ_X_TOKEN_BLOCK) for the runs and run again."
        ]
        spikes = page.locator("#spikes").inner_text()
        assert spikes.startswith("No spike judged this night: no app has enough whole days")
        # no day yet: each sparkline cell shows a dash; its sentence is for screen readers only
        said = page.locator("td .sr-only").all_inner_texts()
        assert len(said) == 10 and all(s.endswith("none counted yet") for s in said)
        assert (
            page.locator("td .sr-only").first.evaluate("e => getComputedStyle(e).position")
            == "absolute"
        )
        page.close()


def test_an_app_page_of_the_first_night_reads_in_the_singular(
    browser: Any, first_night: Served
) -> None:
    rows = httpx.get(f"{first_night.base_url}/apps.json").json()
    app = rows[0]
    days = httpx.get(f"{first_night.base_url}/apps/{app['id']}/days")
    assert days.status_code == 200 and days.json() == []  # the app is known; no day counted yet
    for width in WIDTHS:
        page = _look(browser, f"{first_night.base_url}/apps/{app['id']}", width, "app")
        summary = page.locator("main > p").nth(1).inner_text()
        night = app["snapshot_date"]
        assert summary.startswith("1 night in Book+Music/top10, on "), summary
        assert "1 night without a count" in summary and "1 nights" not in summary
        assert night[:4] in summary
        page.close()
