"""One headless Chromium per test directory that drives one (tests/browser, tests/servers/edge).

Playwright's sync API keeps an event loop running in the main thread while its driver
lives: a second driver refuses to start, and so does any later `asyncio.run()` (the ASGI
gate's tests). So each directory imports these fixtures into its conftest, where they are
scoped to that package: the driver stops when the directory's tests are done.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

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


@dataclass
class ConsoleErrors:
    """Console errors, uncaught exceptions and failed loads of a page (CSP violations are console errors)."""

    messages: list[str] = field(default_factory=list)
    # Loading a page that is *meant* to answer 503 (the maintenance page in place) makes
    # Chromium log "Failed to load resource … 503" for the document itself; that is the
    # specified status, not an error of the page. Only that exact case is tolerated.
    expected_document_status: dict[str, int] = field(default_factory=dict)

    def watch(self, page):
        """Start collecting the errors of `page`, and return it."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))
        # Chromium does not always log a failed load (a favicon, say): check the answers too.
        page.on("response", self._on_response)
        return page

    def _on_response(self, response) -> None:
        if response.status >= 400 and self.expected_document_status.get(response.url) != response.status:
            self.messages.append(f"response: {response.status} {response.request.method} {response.url}")

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        url = (message.location or {}).get("url", "")
        status = self.expected_document_status.get(url)
        if status is not None and text.startswith(
            f"Failed to load resource: the server responded with a status of {status} "
        ):
            return
        self.messages.append(f"console: {text} ({url})")
