"""A planned window in a real browser: banner with a countdown, then the maintenance page, then back.

Nobody clicks anything in the user's page: the banner poll announces the window, turns the page
into the maintenance page at `starts_at` (the gate decides from the clock alone, no worker runs),
and the maintenance page's poll brings the same URL back at `ends_at`.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from playwright.sync_api import expect

from app.maintenance.validation import validate_window
from app.services import clock as clock_service
from app.services import scheduling as scheduling_service

from .test_maintenance_flow import HOME_H1, MAINTENANCE_H1, document_responses

pytestmark = pytest.mark.browser


def test_open_page_gets_the_banner_then_the_maintenance_page_then_comes_back(browser, live_server):
    context = browser.new_context()
    window_id = None
    try:
        page = context.new_page()
        documents = document_responses(page)
        url = f"{live_server.url}/?from=schedule"
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1)
        expect(page.locator("#maintenance-banner .banner")).to_have_count(0)

        now = utcnow()
        starts_at = now + timedelta(seconds=4)
        ends_at = starts_at + timedelta(seconds=5)
        with live_server.app.app_context():
            data = validate_window(
                {
                    "message": "Planned upgrade", "reason": "deployment", "notice_minutes": 1,
                    "starts_at": starts_at.isoformat(), "eta": ends_at.isoformat(),
                    "ends_at": ends_at.isoformat(),
                },
                now,
            )
            window_id = scheduling_service.schedule_window(data, Actor("admin@example.com"), now).id

        # The banner arrives by its poll (every second here) with a countdown to the start.
        banner = page.locator("#maintenance-banner .banner")
        expect(banner).to_be_visible(timeout=3_000)
        countdown = banner.locator("[data-countdown]")
        expect(countdown).to_have_count(1)
        seconds = int(countdown.get_attribute("data-seconds"))
        assert 0 < seconds <= 4, seconds
        assert utcnow() < starts_at, "too slow: the window started before the banner was checked"

        # At the start, the page turns into the maintenance page in place, by itself.
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1, timeout=8_000)
        assert utcnow() >= starts_at - timedelta(seconds=0.5)
        assert page.url == url
        expect(page.locator("#maintenance-status .message")).to_have_text("Planned upgrade")
        assert documents[-1] == (url, 503), documents

        # At the automatic end, the same URL comes back, again by itself.
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1, timeout=10_000)
        assert utcnow() >= ends_at - timedelta(seconds=0.5)
        assert page.url == url
        assert documents[-1] == (url, 200), documents
        assert all(doc_url == url for doc_url, _ in documents), documents
    finally:
        context.close()
        if window_id is not None:
            with live_server.app.app_context():  # what the worker would record, so nothing leaks
                clock_service.start_due_windows(utcnow() + timedelta(seconds=10))
                clock_service.finish_expired_windows(utcnow() + timedelta(seconds=10))
