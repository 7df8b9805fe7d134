"""An operator filters the audit history with htmx (the URL follows) and reads the analytics SVG."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.state import Actor
from playwright.sync_api import expect

from app.extensions import db
from app.models import MaintenanceWindow
from app.services import audit

pytestmark = pytest.mark.browser


def test_filter_audit_with_htmx_then_read_analytics(browser, live_server, admin_storage, console_errors):
    with live_server.app.app_context():
        audit.record("test.browser", Actor("cli:browser-filter"), "window:1", {"before": {"eta": None},
                                                                               "after": {"eta": "soon"}})
        start = datetime.now(UTC) - timedelta(days=3)
        db.session.add(MaintenanceWindow(
            status="completed", reason="incident", message="", created_by="cli:t", started_by="cli:t",
            created_at=start, starts_at=start, started_at=start, ended_at=start + timedelta(hours=2),
            ended_how="manual", eta=start + timedelta(hours=1),
        ))
        db.session.commit()
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin/audit")
        expect(page.locator("#chain-status")).to_contain_text("Hash chain verified")
        page.evaluate("window.__samePage = true")
        page.get_by_label("Actor").fill("cli:browser-filter")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"/admin/audit\?.*actor=cli%3Abrowser-filter"))
        rows = page.locator("#audit-results tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("test.browser")
        expect(rows.first.locator("ins")).to_have_text("soon")
        # The page was not reloaded: htmx swapped the results in place.
        assert page.evaluate("window.__samePage === true")

        page.goto(f"{live_server.url}/admin/analytics")
        timeline = page.locator("svg.timeline")
        expect(timeline).to_have_attribute("role", "img")
        expect(timeline.locator("rect.reason-incident")).to_have_count(1)
        expect(page.locator("svg.monthly rect.month-bar").first).to_be_attached()
        expect(page.locator("#fig-overran")).to_contain_text("1 of 1")
        assert console_errors.messages == []
    finally:
        context.close()
