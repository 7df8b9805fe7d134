"""One headless Chromium per test directory that drives one (tests/browser, tests/edge).

Playwright's sync API keeps an event loop running in the main thread while its driver
lives: a second driver refuses to start, and so does any later `asyncio.run()` (the ASGI
gate's tests). So each directory imports these fixtures into its conftest, where they are
scoped to that package: the driver stops when the directory's tests are done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Start Debian's Chromium (Playwright cannot download its own here); fail loudly without it."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: the browser tests cannot run", pytrace=False)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


@pytest.fixture(scope="package")
def playwright_driver() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_driver) -> Iterator:
    browser = launch_chromium(playwright_driver)
    yield browser
    browser.close()
