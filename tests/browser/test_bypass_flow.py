"""A bypass link in a real browser: a tester browses during full maintenance while everyone else waits."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .test_maintenance_flow import HOME_H1, MAINTENANCE_H1

pytestmark = pytest.mark.browser

RIBBON = "Maintenance active — you are bypassing it."


def test_tester_browses_with_the_ribbon_while_anonymous_visitors_see_the_maintenance_page(
    browser, live_server, admin_storage, console_errors
):
    live_server.activate(message="Deploying v2", mode="full")
    admin = browser.new_context(storage_state=admin_storage)
    tester = browser.new_context()
    visitor = browser.new_context()
    try:
        # The admin makes a link in the dashboard; it is shown once, ready to copy.
        dashboard = admin.new_page()
        dashboard.goto(f"{live_server.url}/admin")
        dashboard.get_by_label("Link valid for").select_option("2h")
        dashboard.get_by_role("button", name="Generate bypass link").click()
        field = dashboard.locator("#bypass-new-url")
        expect(field).to_be_visible()
        expect(field).to_have_attribute("readonly", "")
        link = field.input_value()
        assert link.startswith(f"{live_server.url}/_pausa/bypass/"), link
        expect(dashboard.locator("#bypass-links")).to_contain_text("Link #")

        # The tester opens it: redirected home, the site works, with the ribbon.
        page = console_errors.watch(tester.new_page())
        response = page.goto(link)
        assert response.status == 200
        assert page.url == f"{live_server.url}/"
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1)
        expect(page.locator("#maintenance-banner")).to_contain_text(RIBBON)
        page.wait_for_timeout(1_500)  # the banner polls keep the ribbon, never a refresh
        expect(page.locator("#maintenance-banner")).to_contain_text(RIBBON)
        assert page.goto(f"{live_server.url}/?page=2").status == 200
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1)
        expect(page.locator("#maintenance-banner")).to_contain_text(RIBBON)
        cookies = {cookie["name"]: cookie for cookie in tester.cookies()}
        assert cookies["pausa_bypass"]["httpOnly"] is True
        assert cookies["pausa_bypass"]["sameSite"] == "Lax"
        assert page.evaluate("document.cookie").find("pausa_bypass") == -1, "scripts cannot read it"

        # Meanwhile an anonymous visitor gets the maintenance page at the same URL.
        other = visitor.new_page()
        blocked = other.goto(f"{live_server.url}/?page=2")
        assert blocked.status == 503
        expect(other.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)

        # Revoking the link in the dashboard turns the tester's open page into the maintenance page.
        # The banner poll may reload it before the dashboard even repaints: expect the 503 first.
        console_errors.expected_document_status[f"{live_server.url}/?page=2"] = 503
        dashboard.get_by_text("Revoke link #").first.click()
        dashboard.get_by_role("button", name="Yes, revoke link #").first.click()
        expect(dashboard.locator("#bypass-links")).to_contain_text("No live links.")
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1, timeout=10_000)
        assert page.url == f"{live_server.url}/?page=2"
        assert console_errors.messages == []

        # The revoked link now explains itself and sets nothing.
        again = visitor.new_page()
        refused = again.goto(link)
        assert refused.status == 410
        expect(again.get_by_role("heading", level=1)).to_have_text("This bypass link does not work")
        assert "pausa_bypass" not in {cookie["name"] for cookie in visitor.cookies()}
    finally:
        admin.close()
        tester.close()
        visitor.close()
