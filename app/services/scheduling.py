"""Use cases of planned windows: schedule, edit, cancel, extend; and the worker's transitions.

The gate already enforces a scheduled window from the clock (it is in effect
from `starts_at` to `ends_at`), so nothing here is needed for enforcement: the
worker only records what happened (status, audit entry with actor `system`)
and runs the hooks (app/hooks.py) — each exactly once, even with several
workers, because rows are claimed with `claim()` (SKIP LOCKED on PostgreSQL)
and every status change takes the state-row lock first (`_bump_version`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pausa_gate.state import SYSTEM, Actor, Status
from pausa_gate.windows import LIVE_STATUSES, find_overlap, utcnow
from sqlalchemy import select

from .. import hooks
from ..extensions import db
from ..maintenance.validation import MAX_MINUTES, ValidationError, WindowInput, check_consistency
from ..models import MaintenanceWindow
from ..worker import claim
from . import Conflict, NotFound, audit, subscriptions
from .maintenance import _bump_version, _lock_active_window, _stored

# What an admin can set on a window that has not started yet: everything, its start included.
SCHEDULE_EDITABLE = ("starts_at", *MaintenanceWindow.EDITABLE)


def _snapshot(window: MaintenanceWindow) -> dict[str, Any]:
    return {"starts_at": window.starts_at.isoformat(), **window.snapshot()}


def _live_windows() -> list[MaintenanceWindow]:
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.status.in_([status.value for status in LIVE_STATUSES]))
            .order_by(MaintenanceWindow.starts_at)
        )
    )


def _refuse_overlap(starts_at: datetime, ends_at: datetime | None, exclude_id: int | None = None) -> None:
    """Raise Conflict when [starts_at, ends_at) overlaps a scheduled or active window."""
    clash = find_overlap(
        starts_at, ends_at, (row.to_state() for row in _live_windows()), exclude_id=exclude_id
    )
    if clash is None:
        return
    db.session.rollback()
    until = clash.ends_at.isoformat() if clash.ends_at else "until it is ended (no automatic end)"
    raise Conflict(
        f"This overlaps window {clash.id} ({clash.status.value}, from {clash.starts_at.isoformat()} "
        f"{'to ' + until if clash.ends_at else until}). Pick another time, or change that window."
    )


def _check_times(values: dict[str, Any], now: datetime) -> None:
    """The start is in the future and the ETA and automatic end come after it."""
    errors: dict[str, str] = {}
    starts_at = values.get("starts_at")
    if starts_at is None:
        errors["starts_at"] = "Required: when the window starts (ISO-8601, or 30m, 2h from now)."
    elif starts_at <= now:
        errors["starts_at"] = "Must be in the future (use activate to start now)."
    else:
        for name in ("eta", "ends_at"):
            moment = values.get(name)
            if moment is not None and moment <= starts_at:
                errors[name] = "Must be after the start."
    check_consistency(values, errors)
    if errors:
        db.session.rollback()
        raise ValidationError(errors)


def schedule_window(
    data: WindowInput, actor: Actor, now: datetime | None = None
) -> MaintenanceWindow:
    """Plan a window that starts later; refuse one that overlaps a scheduled or active window."""
    now = now or utcnow()
    values = dict(data.values)
    _check_times(values, now)
    _bump_version()  # the state-row lock: two schedulings cannot both pass the overlap check
    _refuse_overlap(values["starts_at"], values.get("ends_at"))
    window = MaintenanceWindow(
        **_stored(values), status=Status.SCHEDULED.value, created_by=actor.name, created_at=now
    )
    db.session.add(window)
    db.session.flush()
    audit.record("maintenance.scheduled", actor, f"window:{window.id}", {"after": _snapshot(window)})
    db.session.commit()
    hooks.emit("window.scheduled", window, actor=actor.name)
    return window


def _lock_scheduled(window_id: int, now: datetime, verb: str) -> MaintenanceWindow:
    """Take the state-row lock and return a window that has not started yet, or refuse."""
    _bump_version()
    window = db.session.get(MaintenanceWindow, window_id, populate_existing=True)
    if window is None:
        db.session.rollback()
        raise NotFound(f"There is no window {window_id}.")
    if window.status != Status.SCHEDULED.value:
        db.session.rollback()
        raise Conflict(f"Window {window_id} is {window.status}; only a scheduled window can be {verb}.")
    if window.starts_at <= now:
        db.session.rollback()
        raise Conflict(
            f"Window {window_id} has already started; update or end it as the active window instead."
        )
    return window


def update_scheduled_window(
    window_id: int, data: WindowInput, actor: Actor, now: datetime | None = None
) -> MaintenanceWindow:
    """Change a window before it starts (its start too); the same overlap rule as scheduling."""
    now = now or utcnow()
    window = _lock_scheduled(window_id, now, "edited")
    values = dict(data.values)
    merged = {name: getattr(window, name) for name in SCHEDULE_EDITABLE}
    merged.update(values)
    _check_times(merged, now)
    _refuse_overlap(merged["starts_at"], merged.get("ends_at"), exclude_id=window.id)
    before = _snapshot(window)
    for name, value in _stored(values).items():
        setattr(window, name, value)
    after = _snapshot(window)
    changed = sorted(name for name in after if after[name] != before[name])
    if not changed:
        db.session.rollback()
        return window
    audit.record(
        "maintenance.updated",
        actor,
        f"window:{window.id}",
        {
            "before": {name: before[name] for name in changed},
            "after": {name: after[name] for name in changed},
        },
    )
    db.session.commit()
    hooks.emit("window.updated", window, actor=actor.name, changed=changed)
    return window


def cancel_window(window_id: int, actor: Actor, now: datetime | None = None) -> MaintenanceWindow:
    """Call off a window that has not started; it never blocks anyone."""
    now = now or utcnow()
    window = _lock_scheduled(window_id, now, "cancelled")
    window.status = Status.CANCELLED.value
    window.ended_at = now
    window.ended_by = actor.name
    audit.record(
        "maintenance.cancelled",
        actor,
        f"window:{window.id}",
        {"before": _snapshot(window)},
    )
    db.session.commit()
    hooks.emit("window.cancelled", window, actor=actor.name)
    return window


def extend_window(minutes: int, actor: Actor, now: datetime | None = None) -> MaintenanceWindow:
    """Push the active window's automatic end (the dead-man's switch) later by `minutes`."""
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise ValidationError({"minutes": f"Must be a whole number between 1 and {MAX_MINUTES}."})
    now = now or utcnow()
    window = _lock_active_window(now)
    if window.ends_at is None:
        db.session.rollback()
        raise Conflict("The active window has no automatic end to extend; set one with ends_at.")
    before = window.ends_at
    window.ends_at = before + timedelta(minutes=minutes)
    audit.record(
        "maintenance.updated",
        actor,
        f"window:{window.id}",
        {
            "before": {"ends_at": before.isoformat()},
            "after": {"ends_at": window.ends_at.isoformat()},
            "extended_minutes": minutes,
        },
    )
    db.session.commit()
    hooks.emit("window.updated", window, actor=actor.name, changed=["ends_at"])
    return window


# -- the worker's transitions ---------------------------------------------------------


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
    _bump_version()
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
        window.status = Status.ACTIVE.value
        window.started_at = window.starts_at
        window.started_by = SYSTEM.name
        audit.record(
            "maintenance.started",
            SYSTEM,
            f"window:{window.id}",
            {"how": "scheduled", "starts_at": window.starts_at.isoformat(),
             "late_seconds": int((now - window.starts_at).total_seconds())},
        )
        started.append(window)
        if missed:  # never flushed as active, so it does not take the one active slot
            window.status = Status.COMPLETED.value
            window.ended_at = window.ends_at
            window.ended_by = SYSTEM.name
            window.ended_how = "auto"
            audit.record(
                "maintenance.ended",
                SYSTEM,
                f"window:{window.id}",
                {"how": "auto", "ends_at": window.ends_at.isoformat()},
            )
            subscriptions.queue_deliveries(window, window.ends_at)  # same transaction as the end
            ended.append(window)
        else:
            active = window.id
    if not started:
        db.session.rollback()
        return []
    db.session.commit()
    for window in started:
        hooks.emit("window.started", window, actor=SYSTEM.name)
        if window in ended:
            hooks.emit("window.ended", window, actor=SYSTEM.name, how="auto")
    return started


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


def upcoming_windows(now: datetime | None = None, limit: int = 50) -> list[MaintenanceWindow]:
    """Scheduled windows that have not started, soonest first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.status == Status.SCHEDULED.value, MaintenanceWindow.starts_at > now)
            .order_by(MaintenanceWindow.starts_at)
            .limit(limit)
        )
    )


def past_windows(limit: int = 10) -> list[MaintenanceWindow]:
    """Completed and cancelled windows, the latest first."""
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(MaintenanceWindow.status.in_([Status.COMPLETED.value, Status.CANCELLED.value]))
            .order_by(MaintenanceWindow.id.desc())
            .limit(limit)
        )
    )
