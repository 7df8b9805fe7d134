"""A page of the sample shop, open in Chromium through nginx, follows a window on and off by itself.

The shop includes Pausa's watch.js; when a window starts, the script reloads the page and nginx
shows Pausa's maintenance page at the same URL; when it ends, the maintenance page's poll reloads
that URL and the shop's page is back. Nothing is done in the browser after the first visit.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

MAINTENANCE_H1 = "We’ll be right back"
SHOP_H1 = "Your account"
# The shop's watch.js and the maintenance page both poll every second here (tests/servers/edge/conftest.py).
REACTION_MS = 10_000


def test_an_open_shop_page_turns_into_the_maintenance_page_and_back(browser, pausa, proxies):
    nginx = proxies["nginx"]
    context = browser.new_context()
    try:
        page = context.new_page()
        documents: list[tuple[str, int]] = []
        errors: list[str] = []
        page.on("response", lambda response: documents.append((response.url, response.status))
                if response.request.is_navigation_request() and response.frame == page.main_frame else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        url = f"{nginx.base}/account?from=edge"
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_have_text(SHOP_H1)
        assert documents == [(url, 200)]

        pausa.on("--mode", "full")
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1, timeout=REACTION_MS)
        assert page.url == url, "the maintenance page must show at the URL the visitor was on"
        expect(page.locator("#maintenance-status .message")).to_have_text("Deploying v2")
        assert documents[-1] == (url, 503), documents
        # The maintenance page's own CSS and script came through the proxy from Pausa.
        assert page.evaluate("[...document.styleSheets].some(sheet => sheet.cssRules.length > 0)")
        assert page.evaluate("typeof htmx") == "object", "htmx did not load through the proxy"

        pausa.off()
        expect(page.get_by_role("heading", level=1)).to_have_text(SHOP_H1, timeout=REACTION_MS)
        assert page.url == url
        assert documents[-1] == (url, 200), documents
        assert all(document_url == url for document_url, _ in documents), documents
        assert not errors, errors
    finally:
        context.close()
