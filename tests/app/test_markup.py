"""Every HTML page the app renders is valid HTML: the Nu HTML Checker finds zero errors (issue 17).

Tours of the app through the test client collect the pages in the states a person meets them
(test_markup_visitors.py, test_markup_admin.py, test_markup_gate.py); each test below sends one
tour's pages to the checker in one batch (one Java start). A GET endpoint that answers HTML and
that no tour visits fails test_every_html_endpoint_is_checked, until a tour checks it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask

from app.i18n import datetime_attribute
from tests.support.apps import make_app
from tests.support.vnu import assert_valid

from .test_markup_admin import admin_tour
from .test_markup_gate import gate_tour
from .test_markup_visitors import Tour, rate_limited_tour, visitor_tour

# GET endpoints whose answer is not an HTML page, each with the reason; every other GET endpoint
# must be visited by a tour (a new page fails the coverage test below until one checks it).
NOT_HTML = {
    # JSON
    "api.status": "JSON API", "api.bypass_links": "JSON API", "api.windows": "JSON API",
    "api.recurrences": "JSON API", "api.recurrence_show": "JSON API", "api.tokens": "JSON API",
    "api.webhook_subscribers": "JSON API", "site.ping": "the demo's JSON API", "site.items": "the demo's JSON API",
    "public.status_json": "JSON status", "visitor.status_json": "JSON status",
    "edge.state": "the state feed, JSON (its pages are checked in test_markup_gate.py)",
    "health.live": "JSON health check", "health.ready": "JSON health check",
    # Feeds, files and exports
    "metrics": "Prometheus text", "audit.export_csv": "CSV",
    "status.atom": "Atom feed", "visitor_status.atom": "Atom feed",
    "status.calendar": "iCalendar", "visitor_status.calendar": "iCalendar",
    "static": "static files", "public.static": "static files", "visitor.static": "static files",
    "brand_stylesheet": "CSS", "brand_file": "the operator's logo and files",
    # Redirects
    "admin.dashboard_slash": "redirects to /admin", "language": "the language switcher redirects back",
    "visitor_language": "the language switcher redirects back",
}


def get_endpoints(app: Flask) -> set[str]:
    return {rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}


@pytest.fixture(scope="module")
def visitor_pages(tmp_path_factory) -> Tour:
    tour = visitor_tour(tmp_path_factory.mktemp("visitors"))
    tour.merge(rate_limited_tour(tmp_path_factory.mktemp("limits")))
    return tour


@pytest.fixture(scope="module")
def admin_pages(tmp_path_factory) -> Tour:
    return admin_tour(tmp_path_factory.mktemp("admin"))


def test_visitor_pages_are_valid_html(visitor_pages):
    assert_valid(visitor_pages.documents)


def test_admin_pages_are_valid_html(admin_pages):
    assert_valid(admin_pages.documents)


@pytest.fixture(scope="module")
def gate_pages(tmp_path_factory) -> Tour:
    return gate_tour(tmp_path_factory.mktemp("gate"))


def test_feed_pages_and_emails_are_valid_html(gate_pages):
    assert_valid(gate_pages.documents)


def test_every_html_endpoint_is_checked(tmp_path, visitor_pages, admin_pages, gate_pages):
    """A GET endpoint is either visited by a tour, with its HTML checked, or listed in NOT_HTML."""
    endpoints = get_endpoints(make_app(tmp_path))
    checked = visitor_pages.endpoints | admin_pages.endpoints | gate_pages.endpoints
    unchecked = sorted(endpoints - checked - set(NOT_HTML))
    assert not unchecked, (
        "GET endpoints whose HTML no markup tour checks (visit them in a test_markup_*.py tour, or list "
        f"them in NOT_HTML with the reason): {', '.join(unchecked)}"
    )
    assert not set(NOT_HTML) - endpoints, f"NOT_HTML names endpoints that are gone: {set(NOT_HTML) - endpoints}"
    assert not set(NOT_HTML) & checked, f"NOT_HTML names endpoints that answer HTML: {set(NOT_HTML) & checked}"


def test_datetime_attributes_are_utc_to_the_second():
    """`datetime=` values: UTC, whole seconds, Z; naive moments (SQLite's) are UTC; ISO strings are read."""
    exact = datetime(2026, 12, 4, 21, 50, 50, 990872, tzinfo=UTC)
    assert datetime_attribute(exact) == "2026-12-04T21:50:50Z"
    assert datetime_attribute(exact.replace(tzinfo=None)) == "2026-12-04T21:50:50Z"
    assert datetime_attribute(exact.astimezone(timezone(timedelta(hours=-3)))) == "2026-12-04T21:50:50Z"
    assert datetime_attribute(exact.isoformat()) == "2026-12-04T21:50:50Z"
