"""The downtime analytics page: figures from the database, SVG charts, both locales."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.models import MaintenanceWindow
from tests.support.history import bulk_windows


def add(reason, start, minutes, eta_minutes=None, planned=False):
    db.session.add(MaintenanceWindow(
        status="completed", reason=reason, message="", created_by="cli:t", started_by="alice@example.com",
        created_at=start - (timedelta(days=2) if planned else timedelta()), starts_at=start,
        started_at=start, ended_at=start + timedelta(minutes=minutes), ended_how="manual",
        eta=None if eta_minutes is None else start + timedelta(minutes=eta_minutes),
    ))


def test_figures_match_a_hand_computed_quarter(app, client, auth):
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    with app.app_context():
        add("deployment", t0 + timedelta(days=3), 60, eta_minutes=30, planned=True)   # overran 30 min
        add("deployment", t0 + timedelta(days=40), 30, eta_minutes=45, planned=True)  # on time
        add("incident", t0 + timedelta(days=70), 150, eta_minutes=60)                 # overran 90 min
        add("database", t0 - timedelta(hours=1), 120)     # 60 of its 120 minutes fall in the quarter
        add("other", t0 + timedelta(days=200), 10)         # after the quarter: left out
        db.session.commit()
    auth.login("admin")
    html = client.get("/admin/analytics?since=2026-07-01&until=2026-10-01").get_data(as_text=True)
    figure = lambda name: re.search(rf'id="fig-{name}">([^<]+)<', html).group(1)  # noqa: E731
    assert figure("count") == "4"
    assert figure("total") == "5 h 00 min"  # 60 + 30 + 150 + 60
    assert figure("mean") == "1 h 15 min"
    assert figure("overran") == "2 of 3 with an ETA (67%)"
    assert "1 h 00 min / 1 h 30 min" in html  # mean (30 + 90) / 2 and max overrun
    assert figure("planned") == "2 / 2"
    assert "alice@example.com" in html  # who started each window
    # One bar per window on the timeline, one per month on the chart (July, August, September).
    assert html.count('class="bar reason-') == 4
    assert html.count('class="bar month-bar"') == 3
    assert 'role="img"' in html and "<title>" in html
    assert " style=" not in html  # the CSP forbids inline styles


def test_default_period_and_bad_dates(client, auth):
    auth.login("admin")
    page = client.get("/admin/analytics")
    assert page.status_code == 200
    assert "No downtime in this period." in page.get_data(as_text=True)
    assert client.get("/admin/analytics?since=nonsense").status_code == 400
    assert client.get("/admin/analytics?since=2026-05-01&until=2026-04-01").status_code == 400


def test_only_admins(client, auth):
    assert client.get("/admin/analytics").status_code in (302, 401)
    auth.login("developer")
    assert client.get("/admin/analytics").status_code == 403


def test_hundreds_of_windows_render_fast_in_both_locales(app, client, auth):
    with app.app_context():
        bulk_windows(400, datetime(2026, 1, 1, tzinfo=UTC))
    auth.login("admin")
    for language, words in (("en", "Downtime per month"), ("pt-BR", "implantação")):
        started = time.perf_counter()
        page = client.get("/admin/analytics?since=2025-12-01&until=2027-01-01",
                          headers={"Accept-Language": language})
        elapsed = time.perf_counter() - started
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        assert words in html
        assert html.count('class="bar reason-') == 400
        assert elapsed < 3.0, f"{language}: {elapsed:.2f}s"


def test_dashboard_links_to_analytics(client, auth):
    auth.login("admin")
    assert 'href="/admin/analytics"' in client.get("/admin").get_data(as_text=True)


def chart_texts(html: str, kind: str) -> list[str]:
    """The words of the monthly chart's <text> elements of one kind (month, value, tick)."""
    chart = html[html.index('<svg class="chart monthly"'):]
    chart = chart[:chart.index("</svg>")]
    return re.findall(rf'<text [^>]*class="chart-label chart-{kind}"[^>]*>([^<]*)</text>', chart)


def test_monthly_chart_reads_months_an_axis_and_values(app, client, auth):
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    with app.app_context():
        add("deployment", t0 + timedelta(days=3), 300)       # July: 5 h
        add("incident", t0 + timedelta(days=40), 90)          # August: 1 h 30
        add("database", t0 + timedelta(days=70), 45)          # September: 45 min
        db.session.commit()
    auth.login("admin")
    html = client.get("/admin/analytics?since=2026-07-01&until=2026-10-01").get_data(as_text=True)
    # Months read as months, not as dates ("Jul 26" looked like the 26th of July).
    assert chart_texts(html, "month") == ["Jul 2026", "Aug 2026", "Sep 2026"]
    # A labelled value axis with round ticks, and every bar's value as text.
    assert "Hours of downtime" in html
    assert chart_texts(html, "tick") == ["0", "2", "4", "6"]
    assert chart_texts(html, "value") == ["5", "1.5", "0.8"]
    assert " style=" not in html  # the CSP forbids inline styles


def test_monthly_chart_in_minutes_and_in_portuguese(app, client, auth):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    with app.app_context():
        add("deployment", t0 + timedelta(days=3), 40)
        add("deployment", t0 + timedelta(days=33), 25)
        db.session.commit()
    auth.login("admin")
    html = client.get("/admin/analytics?since=2026-11-01&until=2027-01-01").get_data(as_text=True)
    assert "Minutes of downtime" in html
    assert chart_texts(html, "value") == ["40", "25"]
    portuguese = client.get("/admin/analytics?since=2026-11-01&until=2027-01-01",
                            headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert chart_texts(portuguese, "month") == ["nov. 2026", "dez. 2026"]
