"""The maintenance flow in a real browser: pages turn into the maintenance page and back by themselves."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import launch_chromium
from tests.support.live_server import sign_in

pytestmark = pytest.mark.browser

MAINTENANCE_H1 = "We’ll be right back"
HOME_H1 = "Welcome to the demo shop"
# The server renders "29 min"; app.js rewrites it as "29 min 58 s" and ticks every second.
JS_COUNTDOWN = re.compile(r"^\d+ min \d\d s$")


def document_responses(page) -> list[tuple[str, int]]:
    """Record (url, status) of every document the page's main frame loads."""
    seen: list[tuple[str, int]] = []

    def on_response(response) -> None:
        if response.request.is_navigation_request() and response.frame == page.main_frame:
            seen.append((response.url, response.status))

    page.on("response", on_response)
    return seen


def test_open_page_turns_into_maintenance_page_and_back(browser, live_server):
    """The issue's scenario: a user's open page follows maintenance on and off untouched."""
    user_context = browser.new_context()
    admin_context = browser.new_context()
    try:
        user = user_context.new_page()
        documents = document_responses(user)
        url = f"{live_server.url}/?from=test"
        user.goto(url)
        expect(user.get_by_role("heading", level=1)).to_have_text(HOME_H1)
        assert documents == [(url, 200)]

        admin = admin_context.new_page()
        sign_in(admin, live_server.url)
        admin.goto(f"{live_server.url}/admin")
        admin.get_by_label("Message to users").fill("Deploying v2")
        admin.get_by_label("Expected back").fill("30m")
        admin.get_by_role("button", name="Activate maintenance").click()
        expect(admin.locator("#status-card")).to_contain_text("Maintenance is ON")
        assert live_server.is_active()

        # Nothing is done in the user's page from here on: it only watches.
        expect(user.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1, timeout=10_000)
        assert user.url == url, "the maintenance page must render in place, at the same URL"
        expect(user.locator("#maintenance-status .message")).to_have_text("Deploying v2")
        assert documents[-1] == (url, 503), documents
        assert all(doc_url == url for doc_url, _ in documents), documents

        countdown = user.locator("#maintenance-status [data-countdown]")
        expect(countdown).to_have_text(JS_COUNTDOWN)
        before = countdown.text_content()
        user.wait_for_timeout(2_200)
        after = countdown.text_content()
        assert after != before, f"countdown stuck at {before!r}"
        assert JS_COUNTDOWN.match(after), after

        admin.get_by_text("End maintenance now…").click()
        admin.get_by_role("button", name="Yes, end maintenance now").click()
        expect(admin.locator("#status-card")).to_contain_text("Maintenance is off")
        assert not live_server.is_active()

        expect(user.get_by_role("heading", level=1)).to_have_text(HOME_H1, timeout=10_000)
        assert user.url == url, "the user must come back to the very URL they were on"
        assert documents[-1] == (url, 200), documents
        assert all(doc_url == url for doc_url, _ in documents), documents
    finally:
        user_context.close()
        admin_context.close()


def test_maintenance_page_without_javascript(browser, live_server):
    live_server.activate(message="Deploying v2 (no script)")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        url = f"{live_server.url}/?from=nojs"
        response = page.goto(url)
        assert response.status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        expect(page.locator(".message")).to_have_text("Deploying v2 (no script)")
        refresh = page.locator('noscript > meta[http-equiv="refresh"]')
        expect(refresh).to_have_count(1)
        expect(refresh).to_have_attribute("content", "1")

        # The meta refresh alone brings the page back once maintenance ends.
        live_server.end()
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1, timeout=10_000)
        assert page.url == url
    finally:
        context.close()


def test_dashboard_refuses_an_eta_in_the_past(browser, live_server, admin_storage):
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        page.get_by_label("Message to users").fill("Deploying v2")
        page.get_by_label("Expected back").fill("2000-01-01T00:00Z")
        with page.expect_response(lambda r: r.url.endswith("/admin/maintenance/activate")) as answer:
            page.get_by_role("button", name="Activate maintenance").click()
        assert answer.value.status == 422

        error = page.locator("#eta-error")
        expect(error).to_be_visible()
        expect(error).not_to_be_empty()
        expect(page.locator("#eta")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#eta")).to_have_value("2000-01-01T00:00Z")
        expect(page.get_by_label("Message to users")).to_have_value("Deploying v2")
        expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
        # A 422 is an answer to show, not a failure to report.
        expect(page.locator("#request-error")).to_be_hidden()
        assert page.url == f"{live_server.url}/admin"
        assert not live_server.is_active()
    finally:
        context.close()


def _assert_no_horizontal_scroll(page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 320, f"{what} is {width}px wide in a 320px viewport"


def test_narrow_phone_has_no_horizontal_scroll(browser, live_server, admin_storage):
    viewport = {"width": 320, "height": 640}
    visitor = browser.new_context(viewport=viewport)
    admin = browser.new_context(viewport=viewport, storage_state=admin_storage)
    try:
        live_server.activate()
        live_server.end()  # so the dashboard lists a window, with who started it
        admin_page = admin.new_page()
        admin_page.goto(f"{live_server.url}/admin")
        expect(admin_page.locator("section[aria-labelledby=recent-windows] table")).to_be_visible()
        expect(admin_page.locator("#status-card")).to_contain_text("Maintenance is off")
        _assert_no_horizontal_scroll(admin_page, "the idle dashboard")

        live_server.activate(message="Deploying v2, a long message: " + "maintenance " * 20)
        page = visitor.new_page()
        response = page.goto(f"{live_server.url}/account/../?from=phone")
        assert response.status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        _assert_no_horizontal_scroll(page, "the maintenance page")

        admin_page.reload()
        expect(admin_page.locator("#status-card")).to_contain_text("Maintenance is ON")
        _assert_no_horizontal_scroll(admin_page, "the active dashboard")
    finally:
        visitor.close()
        admin.close()


def test_no_console_errors(playwright_driver, live_server, admin_storage, console_errors):
    """No script errors and no CSP violations (no inline script or style) on the main pages."""
    # A browser of its own: Chromium asks for a favicon once per browser, on the first page.
    browser = launch_chromium(playwright_driver)
    visitor = browser.new_context()
    admin = browser.new_context(storage_state=admin_storage)
    try:
        page = console_errors.watch(visitor.new_page())
        page.goto(f"{live_server.url}/")
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1)
        page.wait_for_timeout(1_500)  # let the banner poll swap at least once

        admin_page = console_errors.watch(admin.new_page())
        admin_page.goto(f"{live_server.url}/admin")
        expect(admin_page.locator("#status-card")).to_contain_text("Maintenance is off")

        page.goto("about:blank")  # else the home page's own reload races the next navigation
        live_server.activate()
        url = f"{live_server.url}/?from=console"
        console_errors.expected_document_status[url] = 503
        assert page.goto(url).status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        page.wait_for_timeout(1_500)  # let the status poll swap at least once
        assert page.goto(f"{live_server.url}/maintenance").status == 200
        expect(page.locator("#maintenance-status [data-countdown]")).to_have_text(JS_COUNTDOWN)

        admin_page.reload()
        expect(admin_page.locator("#status-card")).to_contain_text("Maintenance is ON")
        admin_page.get_by_text("End maintenance now…").click()
        admin_page.wait_for_timeout(1_000)

        assert console_errors.messages == []
    finally:
        browser.close()
