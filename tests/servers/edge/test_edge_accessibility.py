"""axe-core on the maintenance page as the edge gate serves it through nginx: zero violations.

The page comes from Pausa's shared page through the proxy (examples/edge), with its CSS and script
loaded through the same proxy, so what axe sees is exactly what a visitor of the protected shop sees.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.axe import assert_accessible

pytestmark = pytest.mark.browser

MAINTENANCE_H1 = "We’ll be right back"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 375, "height": 740}}


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_blocked_page_through_nginx_has_no_accessibility_violation(browser, pausa, proxies, viewport):
    nginx = proxies["nginx"]
    pausa.on("--mode", "full")
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        response = page.goto(f"{nginx.base}/account?from=edge")
        assert response.status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        # Settled: the stylesheet and htmx came through the proxy, and the countdown has started.
        page.wait_for_load_state("networkidle")
        expect(page.locator("#maintenance-status [data-countdown]")).to_have_text(re.compile(r"^\d+ min \d\d s$"))
        assert_accessible(page, f"edge maintenance page through nginx ({viewport})")
    finally:
        context.close()
