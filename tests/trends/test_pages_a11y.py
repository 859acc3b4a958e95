"""appbuzz's pages for everyone: axe-core (vendored, tests/support/axe) finds no serious or
critical violation on any page at a desktop's 1280 px or at WCAG's reflow width of 320 px, over
fifteen real nights; the keyboard reaches what scrolls, and shows where it is.

Pages: the dashboard, an app's page (the spiking app's, and the one with a night not counted),
the run history, the 404 page and the 503 page (over a database that went away), and `/docs`,
where only the `lang` is ours (Swagger UI's own markup is its authors'; its findings are printed,
not failed on). A screenshot of every page at 320 px goes to `test-artifacts/a11y/` (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import axe
from tests.support.browser import chromium
from tests.support.serve import serving_away
from tests.trends.nights import FAILED_RANK, TRIPLED_RANK, Nights

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "a11y"
WIDTHS = [1280, 320]
PAGES = ["dashboard", "app", "app-with-gap", "history", "not-found", "unavailable", "docs"]
SWAGGER_UI_IS_ITS_OWN = ["html-has-lang", "html-lang-valid"]  # what of /docs is appbuzz's


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def away(postgres_server: str, tmp_path_factory) -> Iterator[str]:
    """A server whose database went away after it started: its pages are the 503 page."""
    with serving_away(postgres_server, tmp_path_factory.mktemp("away") / "serve.log") as server:
        yield server.base_url


def url_of(name: str, request: pytest.FixtureRequest) -> str:
    if name == "unavailable":
        return f"{request.getfixturevalue('away')}/"
    served: str = request.getfixturevalue("nights_served")
    nights: Nights = request.getfixturevalue("fifteen_nights")
    path = {
        "dashboard": "/",
        "app": f"/apps/{nights.app_at(TRIPLED_RANK)['id']}",
        "app-with-gap": f"/apps/{nights.app_at(FAILED_RANK)['id']}",
        "history": "/history",
        "not-found": "/apps/1",
        "docs": "/docs",
    }[name]
    return served + path


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", PAGES)
def test_no_serious_violation(
    browser: Any, name: str, width: int, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        answer = page.goto(url_of(name, request))
        assert answer is not None
        expected = {"not-found": 404, "unavailable": 503}.get(name, 200)
        assert answer.status == expected
        if name == "docs":
            page.locator(".opblock-summary-path").first.wait_for(timeout=30_000)
        found = axe.violations(page)
        ours = [v for v in found if name != "docs" or v.rule in SWAGGER_UI_IS_ITS_OWN]
        print(f"AXE {name} at {width} px ({page.url}): {len(found)} violations")
        for violation in found:
            print(f"  {'' if violation in ours else '(Swagger UI, not ours) '}{violation}")
        if width == 320:
            page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
        assert [str(v) for v in ours if v.impact in axe.BLOCKING] == []
        if name == "docs":  # axe ran the lang rules: the page names its language
            assert page.evaluate("document.documentElement.lang") == "en"
    finally:
        context.close()


def test_the_keyboard_reaches_the_table_at_320_px_and_shows_focus(
    browser: Any, nights_served: str, fifteen_nights: Nights
) -> None:
    """At 320 px the nights table is wider than the screen: Tab reaches its region (named by
    its caption), the arrow keys scroll it, and the focus is drawn as an outline."""
    context = browser.new_context(viewport={"width": 320, "height": 900})
    page = context.new_page()
    page.goto(f"{nights_served}/apps/{fifteen_nights.app_at(TRIPLED_RANK)['id']}")
    region = page.locator('div.scroll[aria-labelledby="nights-caption"]')
    assert region.evaluate("e => e.scrollWidth > e.clientWidth")  # it does scroll sideways
    assert region.get_attribute("role") == "region"
    label = page.locator(f"#{region.get_attribute('aria-labelledby')}").inner_text()
    assert label.endswith("newest night first.")
    page.keyboard.press("Tab")  # the first stop: the brand link, focused by the keyboard
    assert page.evaluate("document.activeElement.className") == "brand"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    stops = []
    for _ in range(10):
        page.keyboard.press("Tab")
        stops.append(page.evaluate("document.activeElement.outerHTML.slice(0, 60)"))
        if page.evaluate("document.activeElement.classList.contains('scroll')"):
            break
    else:
        pytest.fail(f"Tab never reached the table's region; it stopped at {stops}")
    style = region.evaluate(
        "e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineWidth]"
    )
    assert style == ["solid", "3px"]
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "document.querySelector('div.scroll[aria-labelledby=nights-caption]').scrollLeft > 0"
    )
    context.close()
