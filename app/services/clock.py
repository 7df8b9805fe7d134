"""What the clock does to windows, as the worker records it: starts, automatic ends, overdue alerts.

The gate already enforces a window from the clock (in effect from `starts_at` to
`ends_at`), so nothing here is needed for enforcement: the worker only records what
happened (status, audit entry with actor `system`) and runs the hooks (app/hooks.py)
— each exactly once, even with several workers, because rows are taken with `claim()`
(SKIP LOCKED on PostgreSQL) and every status change takes the state-row lock first
(`bump_version`, app/services/state.py). See docs/windows.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pausa_gate.state import SYSTEM, Status
from pausa_gate.windows import utcnow
from sqlalchemy import func, select

from .. import hooks
from ..extensions import db
from ..models import MaintenanceWindow
from . import audit, subscriptions
from .claims import claim
from .maintenance import AUTO, record_end, record_start
from .state import bump_version


def _due(now: datetime) -> tuple[Any, ...]:
    return (MaintenanceWindow.status == Status.SCHEDULED.value, MaintenanceWindow.starts_at <= now)


def start_due_windows(now: datetime | None = None, limit: int = 100) -> list[MaintenanceWindow]:
    """Record the start of scheduled windows whose `starts_at` has passed (the gate already blocks).

    A window whose automatic end has also passed (the worker was down all along) is
    recorded as started and ended. A window whose start comes while another one is
    still active waits: the gate enforces the older one until it ends, then this one.
    """
    now = now or utcnow()
    if db.session.scalar(select(MaintenanceWindow.id).where(*_due(now)).limit(1)) is None:
        db.session.rollback()  # the usual case: nothing to do, no lock taken
        return []
    bump_version()
    soonest_first = (MaintenanceWindow.starts_at, MaintenanceWindow.id)
    due = claim(select(MaintenanceWindow).where(*_due(now)).order_by(*soonest_first), limit)
    active = db.session.scalar(
        select(MaintenanceWindow.id).where(MaintenanceWindow.status == Status.ACTIVE.value).limit(1)
    )
    started: list[MaintenanceWindow] = []
    ended: list[MaintenanceWindow] = []
    for window in due:
        missed = window.ends_at is not None and window.ends_at <= now
        if active is not None and not missed:
            continue  # another window holds the active slot; retried on the next pass
        if missed:  # recorded as started and ended, never flushed as active: it takes no slot
            record_end(window, SYSTEM, AUTO, now)
            ended.append(window)
        else:
            record_start(window, now)
            active = window.id
            subscriptions.queue_notices(window, "started", now)  # same transaction as the start
        started.append(window)
    if not started:
        db.session.rollback()
        return []
    db.session.commit()
    for window in started:
        hooks.emit("window.started", window, actor=SYSTEM.name)
        if window in ended:
            hooks.emit("window.ended", window, actor=SYSTEM.name, how=AUTO)
    return started


def _expired(now: datetime) -> tuple[Any, ...]:
    """Active windows whose hard automatic end is at or before `now`."""
    return (
        MaintenanceWindow.status == Status.ACTIVE.value,
        MaintenanceWindow.ends_at.is_not(None),
        MaintenanceWindow.ends_at <= now,
    )


def count_expired_windows(now: datetime | None = None) -> int:
    """How many windows wait for the worker to record their automatic end (a queue depth)."""
    count = db.session.scalar(
        select(func.count()).select_from(MaintenanceWindow).where(*_expired(now or utcnow()))
    )
    db.session.commit()
    return count or 0


def finish_expired_windows(now: datetime | None = None, limit: int = 100) -> list[MaintenanceWindow]:
    """Mark windows whose automatic end has passed as completed (the gate already lets traffic in).

    Safe with several workers: the state row is locked first (the same order as
    every admin change, so no deadlock), then the expired windows are claimed
    with SKIP LOCKED; a worker that waited for the lock finds them completed.
    """
    now = now or utcnow()
    pending = db.session.scalar(select(MaintenanceWindow.id).where(*_expired(now)).limit(1))
    if pending is None:  # the usual case: nothing to do, no lock taken
        db.session.rollback()
        return []
    bump_version()
    expired = claim(select(MaintenanceWindow).where(*_expired(now)).order_by(MaintenanceWindow.id), limit)
    if not expired:
        db.session.rollback()
        return []
    for window in expired:
        record_end(window, SYSTEM, AUTO, now)
    db.session.commit()
    for window in expired:
        hooks.emit("window.ended", window, actor=SYSTEM.name, how=AUTO)
    return expired


def _overdue(now: datetime) -> tuple[Any, ...]:
    return (
        MaintenanceWindow.status == Status.ACTIVE.value,
        MaintenanceWindow.eta.is_not(None),
        MaintenanceWindow.eta <= now,
        MaintenanceWindow.overdue_alerted_at.is_(None),
        (MaintenanceWindow.ends_at.is_(None)) | (MaintenanceWindow.ends_at > now),
    )


def alert_overdue_windows(now: datetime | None = None, limit: int = 100) -> list[MaintenanceWindow]:
    """Alert once per window whose ETA has passed while it is still active."""
    now = now or utcnow()
    windows = claim(select(MaintenanceWindow).where(*_overdue(now)).order_by(MaintenanceWindow.id), limit)
    if not windows:
        db.session.rollback()
        return []
    for window in windows:
        window.overdue_alerted_at = now
        audit.record(
            "maintenance.overdue",
            SYSTEM,
            f"window:{window.id}",
            {"eta": window.eta.isoformat(), "late_seconds": int((now - window.eta).total_seconds())},
        )
    db.session.commit()
    for window in windows:
        hooks.emit("window.overdue", window, alert="overdue", eta=window.eta.isoformat())
    return windows


def _over_ceiling(now: datetime, max_hours: float) -> tuple[Any, ...]:
    return (
        MaintenanceWindow.status == Status.ACTIVE.value,
        MaintenanceWindow.starts_at <= now - timedelta(hours=max_hours),
        MaintenanceWindow.ceiling_alerted_at.is_(None),
        (MaintenanceWindow.ends_at.is_(None)) | (MaintenanceWindow.ends_at > now),
    )


def alert_ceiling_windows(
    max_hours: float, now: datetime | None = None, limit: int = 100
) -> list[MaintenanceWindow]:
    """Alert once per window active for longer than MAINTENANCE_MAX_HOURS."""
    now = now or utcnow()
    windows = claim(
        select(MaintenanceWindow).where(*_over_ceiling(now, max_hours)).order_by(MaintenanceWindow.id), limit
    )
    if not windows:
        db.session.rollback()
        return []
    for window in windows:
        window.ceiling_alerted_at = now
        audit.record(
            "maintenance.ceiling_exceeded",
            SYSTEM,
            f"window:{window.id}",
            {"max_hours": max_hours, "active_seconds": int((now - window.starts_at).total_seconds())},
        )
    db.session.commit()
    for window in windows:
        hooks.emit("window.ceiling_exceeded", window, alert="ceiling exceeded", max_hours=max_hours)
    return windows
