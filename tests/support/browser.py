"""Headless Chromium for the tests: Debian's /usr/bin/chromium driven by Playwright (no browser is
ever downloaded), with the flags that keep it from talking to anything but the page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.requirements import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched Playwright browser, closed on exit; without Debian's Chromium the test skips
    (fails in CI, whose `.ci/run` installs it), as with PostgreSQL and Docker."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
