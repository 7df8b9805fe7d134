"""Downtime analytics for a chosen period: figures, an SVG timeline and a monthly bar chart."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from flask import Blueprint, render_template, request
from flask_babel import gettext
from pausa_gate.windows import parse_moment, utcnow

from ..i18n import label
from ..maintenance import analytics
from ..services import analytics as analytics_service
from .auth import admin_required

bp = Blueprint("analytics", __name__, url_prefix="/admin/analytics")

TIMELINE_WIDTH = 1000.0
CHART_WIDTH = 600.0
CHART_HEIGHT = 200.0
MONTH_LABEL_WIDTH = 60.0
VALUE_LABEL_WIDTH = 24.0
# A longer period only makes the page slow to draw (one bar per month; years 1-9999 took 3.5 s).
MAX_PERIOD_YEARS = 10


@bp.before_request
@admin_required
def guard() -> None:
    """Only admins read downtime analytics."""


def _moment(name: str, now: datetime, errors: dict[str, str]) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return parse_moment(raw, now).astimezone(UTC)
    except ValueError:
        errors[name] = gettext("Use an ISO-8601 date, like 2026-01-31 or 2026-01-31T02:00Z.")
        return None


def hours(value: timedelta | None) -> str:
    """Show a duration as hours and minutes, e.g. 3 h 05 min."""
    if value is None:
        return "—"
    minutes = round(value.total_seconds() / 60)
    return gettext("%(h)d h %(m)02d min", h=minutes // 60, m=minutes % 60)


bp.add_app_template_filter(hours, "hours")


@bp.get("")
def downtime() -> tuple[str, int]:
    """Figures for `?since=&until=` (ISO-8601; default the last 90 days)."""
    now = utcnow()
    errors: dict[str, str] = {}
    default_since, default_until = analytics.default_period(now)
    since = _moment("since", now, errors) or default_since
    until = _moment("until", now, errors) or default_until
    if not errors and until <= since:
        errors["until"] = gettext("The end of the period must come after its start.")
    elif not errors and until - since > timedelta(days=366 * MAX_PERIOD_YEARS):
        errors["until"] = gettext("The period can be at most %(years)d years.", years=MAX_PERIOD_YEARS)
    if errors:
        since, until = default_since, default_until
    report = analytics_service.report(since, until, now)
    timeline = [
        (c, *analytics.timeline_bar(c, report.since, report.until, TIMELINE_WIDTH)) for c in report.windows
    ]
    lanes = sorted({c.window.reason for c in report.windows})
    # Look each reason's words up once: hundreds of windows each naming theirs add up.
    reason_labels = {reason: label(reason) for reason in lanes}
    return render_template(
        "admin/analytics.html",
        report=report,
        errors=errors,
        filters={key: request.args.get(key, "") for key in ("since", "until")},
        timeline=timeline,
        lanes=lanes,
        reason_labels=reason_labels,
        timeline_width=TIMELINE_WIDTH,
        chart=_monthly_chart(report.months),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
    ), (400 if errors else 200)


def _monthly_chart(months: list[analytics.MonthFigures]) -> dict:
    """The monthly bar chart: bars with their values in the axis' unit, the ticks, which labels fit."""
    axis = analytics.downtime_axis(months)
    bars = analytics.month_bars(months, CHART_WIDTH, CHART_HEIGHT, axis.top_seconds)
    slot = CHART_WIDTH / max(1, len(months))
    return {
        "title": gettext("Hours of downtime") if axis.unit == "hours" else gettext("Minutes of downtime"),
        "bars": [
            (m, bar, m.total.total_seconds() / axis.unit_seconds) for m, bar in zip(months, bars, strict=True)
        ],
        "ticks": [(value, CHART_HEIGHT - value * axis.unit_seconds / axis.top_seconds * CHART_HEIGHT)
                  for value in axis.ticks],
        # A month's label ("Dec 2026") needs about MONTH_LABEL_WIDTH units: over a long period label
        # every n-th month, and print the values only while they fit above their bars.
        "label_every": max(1, math.ceil(MONTH_LABEL_WIDTH / slot)),
        "show_values": slot >= VALUE_LABEL_WIDTH,
    }
