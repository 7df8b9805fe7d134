"""The public status page in a real browser: it renders, times carry a zone name, no errors, fits a phone."""

from __future__ import annotations

import re

import pytest
from pausa_gate.windows import utcnow

from app.maintenance.validation import validate_window
from app.services import scheduling as scheduling_service

PHONE = {"width": 375, "height": 667}


@pytest.fixture
def planned(live_server):
    """A window planned in two days, with a long message; cancelled afterwards so no other test sees it."""
    data = {"message": "Moving every server to a new data centre; " * 4, "reason": "database",
            "starts_at": "2d", "ends_at": "2h", "messages": {"pt-BR": "Mudando todos os servidores de lugar. " * 4}}
    with live_server.app.app_context():
        window = scheduling_service.schedule_window(validate_window(data, utcnow()), live_server.actor)
        window_id = window.id
    yield window_id
    with live_server.app.app_context():
        scheduling_service.cancel_window(window_id, live_server.actor)


@pytest.mark.parametrize(("language", "heading"), [("en", "Status"), ("pt-BR", "Situação")])
def test_the_status_page_renders_on_a_phone_with_named_local_times(
    browser, live_server, console_errors, planned, language, heading
):
    live_server.activate(mode="full", message="Deploying v2 with a rather long explanation " * 3)
    context = browser.new_context(viewport=PHONE, locale=language, timezone_id="America/Sao_Paulo")
    page = console_errors.watch(context.new_page())
    try:
        page.goto(f"{live_server.url}/status")
        page.wait_for_function("document.querySelector('time[data-local][title]') !== null")

        assert page.locator("h1").inner_text() == heading
        assert page.locator("#status-now").is_visible()
        times = page.locator("time[data-local]").all_inner_texts()
        assert len(times) >= 3
        # app.js rewrote each UTC time into the reader's zone, with the zone's name (São Paulo: GMT-3).
        assert all(re.search(r"GMT-3|BRT|UTC-3", text) for text in times), times
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= PHONE["width"], f"horizontal scroll: {width}px wide"
        assert console_errors.messages == []
    finally:
        context.close()
        live_server.end()


def test_the_maintenance_page_links_to_the_status_page(browser, live_server, console_errors):
    live_server.activate(mode="full")
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        page.get_by_role("link", name="Status page and maintenance calendar").click()
        page.wait_for_url("**/_pausa/status/")
        console_errors.watch(page)
        page.reload()
        assert page.locator("#status-now").is_visible()
        assert console_errors.messages == []
    finally:
        context.close()
        live_server.end()
