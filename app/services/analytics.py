"""Load the windows that ran during a period, for the pure downtime arithmetic."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select

from ..extensions import db
from ..maintenance import analytics
from ..models import MaintenanceWindow


def windows_between(since: datetime, until: datetime) -> list[analytics.WindowFacts]:
    """Return every window that started before `until` and had not ended by `since`."""
    rows = db.session.execute(
        select(
            MaintenanceWindow.id, MaintenanceWindow.reason, MaintenanceWindow.created_at,
            MaintenanceWindow.started_at, MaintenanceWindow.ended_at, MaintenanceWindow.eta,
            MaintenanceWindow.started_by,
        )
        .where(MaintenanceWindow.started_at.is_not(None))
        .where(MaintenanceWindow.started_at < until)
        .where(or_(MaintenanceWindow.ended_at.is_(None), MaintenanceWindow.ended_at > since))
        .order_by(MaintenanceWindow.started_at)
    ).all()
    return [analytics.WindowFacts(*row) for row in rows]


def report(since: datetime, until: datetime, now: datetime) -> analytics.Report:
    return analytics.summarise(windows_between(since, until), since, until, now)
