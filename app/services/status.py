"""Queries of the public status page and its feeds: public facts of windows and of their history."""

from __future__ import annotations

from datetime import datetime

from pausa_gate.state import Mode, Reason, Status, message_pairs
from pausa_gate.windows import LIVE_STATUSES
from sqlalchemy import case, func, or_, select

from ..extensions import db
from ..maintenance.status_feed import (
    FEED_KINDS,
    PUBLIC_ACTIONS,
    SEQUENCE_ACTIONS,
    PublicEvent,
    PublicWindow,
    history_start,
    public_event,
)
from ..models import AuditEntry, MaintenanceWindow

FEED_LIMIT = 200
"""The most entries the Atom feed carries (newest first)."""


def public_windows(now: datetime) -> list[PublicWindow]:
    """Return every planned or active window and those of the last 90 days: two queries.

    Only public columns are read: never who created, started or ended a window.
    """
    since = history_start(now)
    rows = db.session.execute(
        select(
            MaintenanceWindow.id, MaintenanceWindow.status, MaintenanceWindow.reason, MaintenanceWindow.mode,
            MaintenanceWindow.message, MaintenanceWindow.messages, MaintenanceWindow.starts_at,
            MaintenanceWindow.eta, MaintenanceWindow.ends_at, MaintenanceWindow.started_at,
            MaintenanceWindow.ended_at, MaintenanceWindow.created_at,
        ).where(
            or_(
                MaintenanceWindow.status.in_([status.value for status in LIVE_STATUSES]),
                MaintenanceWindow.ended_at >= since,
                MaintenanceWindow.starts_at >= since,
            )
        )
    ).all()
    changes = _changes([row.id for row in rows])
    db.session.commit()  # end the read transaction
    windows = []
    for row in rows:
        count, changed_at = changes.get(row.id, (0, row.created_at))  # no public change audited: its creation
        windows.append(PublicWindow(
            id=row.id, status=Status(row.status), reason=Reason(row.reason), mode=Mode(row.mode),
            message=row.message, messages=message_pairs(row.messages), starts_at=row.starts_at,
            eta=row.eta, ends_at=row.ends_at, started_at=row.started_at, ended_at=row.ended_at,
            changed_at=changed_at, changes=count,
        ))
    return windows


def _changes(window_ids: list[int]) -> dict[int, tuple[int, datetime]]:
    """Read each window's public changes in the append-only audit trail: (how many, the latest).

    How many is its calendar SEQUENCE; the latest its LAST-MODIFIED and DTSTAMP, which therefore
    move only with changes that also move the state version, hence the ETag.
    """
    if not window_ids:
        return {}
    targets = {f"window:{window_id}": window_id for window_id in window_ids}
    counted = db.session.execute(
        select(
            AuditEntry.target,
            func.count(case((AuditEntry.action.in_(SEQUENCE_ACTIONS), 1))),
            func.max(AuditEntry.created_at),
        )
        .where(AuditEntry.action.in_(PUBLIC_ACTIONS), AuditEntry.target.in_(list(targets)))
        .group_by(AuditEntry.target)
    ).all()
    return {targets[target]: (count, latest) for target, count, latest in counted}


def public_events(now: datetime, limit: int = FEED_LIMIT) -> list[PublicEvent]:
    """Return the last 90 days of window events, newest first, reduced to their public facts.

    The actor, IP and user agent of the audit entries are never read.
    """
    rows = db.session.execute(
        select(AuditEntry.id, AuditEntry.action, AuditEntry.created_at, AuditEntry.target, AuditEntry.details)
        .where(AuditEntry.action.in_(list(FEED_KINDS)), AuditEntry.created_at >= history_start(now))
        .order_by(AuditEntry.id.desc())
        .limit(limit)
    ).all()
    db.session.commit()
    events = (public_event(row.id, row.action, row.created_at, row.target, row.details) for row in rows)
    return [event for event in events if event is not None]
