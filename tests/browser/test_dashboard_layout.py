"""The dashboard at a glance: the state and its one primary action in the first screen, desktop and phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

@pytest.fixture(autouse=True)
def _room_for_changes(live_server):
    """These tests change the state through the page many times; the whole package shares one
    live server and one admin, so give them a limit of their own (its counter is separate)."""
    config = live_server.app.config
    before = config["STATE_CHANGE_RATE_LIMIT"]
    config["STATE_CHANGE_RATE_LIMIT"] = "60 per minute"
    yield
    config["STATE_CHANGE_RATE_LIMIT"] = before


VIEWPORTS = [
    pytest.param({"width": 1280, "height": 800}, id="desktop"),
    pytest.param({"width": 375, "height": 667}, id="phone"),
]


def assert_in_first_screen(page, locator, viewport: dict, what: str) -> None:
    """The element is visible and wholly inside the viewport, the page not scrolled."""
    expect(locator).to_be_visible()
    assert page.evaluate("window.scrollY") == 0, "the page scrolled by itself"
    box = locator.bounding_box()
    assert box is not None, f"{what} has no box"
    bottom = box["y"] + box["height"]
    assert box["y"] >= 0 and bottom <= viewport["height"], (
        f"{what} ends at {bottom:.0f}px, below the first screen ({viewport['height']}px)"
    )


def assert_no_horizontal_scroll(page, viewport: dict, what: str) -> None:
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= viewport["width"], f"{what} is {width}px wide in a {viewport['width']}px viewport"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_idle_dashboard_starts_with_the_activate_form(browser, live_server, admin_storage, viewport):
    context = browser.new_context(viewport=viewport, storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
        for field in ("Message to users", "Reason", "Expected back"):
            activate = page.get_by_role("region", name="Activate maintenance now")
            assert_in_first_screen(page, activate.get_by_label(field), viewport, f"the {field!r} field")
        submit = page.get_by_role("button", name="Activate maintenance")
        assert_in_first_screen(page, submit, viewport, "the activate button")
        assert_no_horizontal_scroll(page, viewport, "the idle dashboard")

        # The folded options are part of the same form: open them, pick a mode, activate.
        page.get_by_text("More options").click()
        page.get_by_label("Mode", exact=True).select_option("read_only")
        page.get_by_label("Message to users").fill("Read-only while we copy the database")
        submit.click()
        expect(page.locator("#status-card")).to_contain_text("Maintenance is ON")
        expect(page.locator("#status-card")).to_contain_text("read only")
        assert live_server.is_active()
    finally:
        context.close()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_active_dashboard_starts_with_end_extend_and_update(browser, live_server, admin_storage, viewport):
    live_server.activate(ends_at="2h", allowed_roles=["qa"])
    admin = browser.new_context(viewport=viewport, storage_state=admin_storage)
    visitor = browser.new_context()
    try:
        assert visitor.request.get(f"{live_server.url}/").status == 503
        page = admin.new_page()
        page.goto(f"{live_server.url}/admin")
        expect(page.locator("#status-card")).to_contain_text("Maintenance is ON")
        end = page.get_by_text("End maintenance now…")
        assert_in_first_screen(page, end, viewport, "the End button")
        assert_in_first_screen(page, page.get_by_role("button", name="Extend by 30 min"), viewport, "Extend")
        assert_in_first_screen(page, page.get_by_role("link", name="Update the window"), viewport, "Update")
        assert_no_horizontal_scroll(page, viewport, "the active dashboard")

        # End asks once more, right where it is; asking ends nothing.
        end.click()
        confirm = page.get_by_role("button", name="Yes, end maintenance now")
        assert_in_first_screen(page, confirm, viewport, "the End confirmation")
        page.wait_for_timeout(300)
        assert live_server.is_active(), "opening the confirmation must not end the window"
        assert visitor.request.get(f"{live_server.url}/").status == 503

        confirm.click()
        expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
        assert not live_server.is_active()
        assert visitor.request.get(f"{live_server.url}/").status == 200, "the gate still blocks"
    finally:
        visitor.close()
        admin.close()


def test_update_link_leads_to_the_update_form(browser, live_server, admin_storage):
    live_server.activate(message="First words")
    context = browser.new_context(viewport={"width": 375, "height": 667}, storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        page.get_by_role("link", name="Update the window").click()
        message = page.get_by_label("Message to users")
        expect(message).to_be_in_viewport()
        message.fill("Second words")
        page.get_by_role("button", name="Save changes").click()
        expect(page.get_by_text("Maintenance updated.")).to_be_visible()
        with live_server.app.app_context():
            from app.services import state as state_service

            assert state_service.current_window().message == "Second words"
    finally:
        context.close()


def test_end_without_javascript(browser, live_server, admin_storage):
    """The confirmation is plain HTML (<details>) and the form a real POST: no script needed."""
    live_server.activate()
    context = browser.new_context(java_script_enabled=False, storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        page.get_by_text("End maintenance now…").click()
        with page.expect_navigation():
            page.get_by_role("button", name="Yes, end maintenance now").click()
        expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
        expect(page.get_by_text("Maintenance has ended.")).to_be_visible()
        assert not live_server.is_active()
    finally:
        context.close()


def test_no_horizontal_scroll_in_portuguese_on_a_narrow_phone(browser, live_server, admin_storage):
    """Portuguese words are longer: they must wrap, not widen the page."""
    viewport = {"width": 320, "height": 640}
    context = browser.new_context(viewport=viewport, storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/maintenance/language?lang=pt_BR&next=/admin")
        expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
        expect(page.locator("#status-card")).to_contain_text("desativada")
        assert_no_horizontal_scroll(page, viewport, "the idle dashboard in Portuguese")
        live_server.activate(ends_at="2h", allowed_roles=["qa"])
        page.reload()
        expect(page.locator("#status-card")).to_contain_text("ATIVA")
        assert_no_horizontal_scroll(page, viewport, "the active dashboard in Portuguese")
    finally:
        context.close()
