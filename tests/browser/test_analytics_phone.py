"""An operator reads the analytics charts on a phone and on a desktop: every label at a readable size."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import MaintenanceWindow
from tests.support.axe import assert_accessible

pytestmark = pytest.mark.browser

# The smallest label a person can read without zooming: the body text is 16 px.
READABLE_PX = 12

# The rendered size of each chart label: an SVG <text>'s font size times the vertical scale of its
# coordinate system on screen (viewBox, transforms), an HTML label's computed font size.
LABEL_SIZES = """() => [...document.querySelectorAll('.chart-label, svg text')].map((label) => {
  const size = parseFloat(getComputedStyle(label).fontSize);
  const matrix = label instanceof SVGGraphicsElement ? label.getScreenCTM() : null;
  const scale = matrix ? Math.min(Math.hypot(matrix.a, matrix.b), Math.hypot(matrix.c, matrix.d)) : 1;
  return {text: label.textContent.trim(), px: Math.round(size * scale * 10) / 10};
})"""


@pytest.fixture
def windows_in_range(live_server):
    """Windows of three reasons spread over the default period (the last 90 days)."""
    now = datetime.now(UTC)
    added = []
    with live_server.app.app_context():
        for days_ago, reason, hours in ((80, "deployment", 3), (45, "database", 1), (20, "incident", 5),
                                        (5, "deployment", 2)):
            start = now - timedelta(days=days_ago)
            window = MaintenanceWindow(
                status="completed", reason=reason, message="", created_by="cli:t", started_by="cli:t",
                created_at=start, starts_at=start, started_at=start, ended_at=start + timedelta(hours=hours),
                ended_how="manual",
            )
            db.session.add(window)
            added.append(window)
        db.session.commit()
    yield
    with live_server.app.app_context():
        for window in added:
            db.session.delete(db.session.merge(window))
        db.session.commit()


@pytest.mark.parametrize(("width", "height"), [(375, 740), (1280, 800)])
def test_chart_labels_readable_on_phone_and_desktop(browser, live_server, admin_storage, console_errors,
                                                    windows_in_range, width, height):
    context = browser.new_context(storage_state=admin_storage, viewport={"width": width, "height": height})
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin/analytics")
        expect(page.locator("svg.timeline rect.bar")).to_have_count(4)
        expect(page.locator("svg.monthly rect.month-bar").first).to_be_attached()

        labels = page.evaluate(LABEL_SIZES)
        words = {label["text"] for label in labels}
        # Nothing was dropped to make room: lane names, the period's ends, the months and the axis.
        assert {"deployment", "database", "incident", "Hours of downtime"} <= words
        assert len([word for word in words if re.fullmatch(r"\d{4}-\d{2}-\d{2}", word)]) == 2
        assert len([word for word in words if re.fullmatch(r"[A-Z][a-z]{2} \d{4}", word)]) >= 3
        small = [label for label in labels if label["px"] < READABLE_PX]
        assert small == [], f"labels under {READABLE_PX} px at {width} px: {small}"

        # Only a chart's own region scrolls sideways, never the page.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # The charts stay one picture each for screen readers; the tables carry the data.
        for chart in ("svg.timeline", "svg.monthly"):
            expect(page.locator(chart)).to_have_attribute("role", "img")
            expect(page.locator(chart)).to_have_attribute("aria-label", re.compile(r"\S"))
        assert_accessible(page, f"analytics at {width} px")
        assert console_errors.messages == []
    finally:
        context.close()
