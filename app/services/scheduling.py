"""What admins do to planned windows: schedule, edit, cancel; and the lists of upcoming and past ones.

The gate enforces a scheduled window from the clock; the worker records its start
(app/services/clock.py). Every change takes the state-row lock first (`bump_version`,
app/services/state.py), so two schedulings cannot both pass the overlap check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pausa_gate.state import Actor, Status
from pausa_gate.windows import find_overlap, utcnow
from sqlalchemy import select

from .. import hooks
from ..extensions import db
from ..maintenance.validation import (
    ValidationError,
    WindowInput,
    check_consistency,
    column_values,
    example_moment,
)
from ..models import MaintenanceWindow
from . import Conflict, NotFound, audit, subscriptions, webhook_subscribers
from .state import bump_version, live_windows

# What an admin can set on a window that has not started yet: everything, its start included.
SCHEDULE_EDITABLE = ("starts_at", *MaintenanceWindow.EDITABLE)


def _snapshot(window: MaintenanceWindow) -> dict[str, Any]:
    return {"starts_at": window.starts_at.isoformat(), **window.snapshot()}


def _refuse_overlap(starts_at: datetime, ends_at: datetime | None, exclude_id: int | None = None) -> None:
    """Raise Conflict when [starts_at, ends_at) overlaps a scheduled or active window."""
    clash = find_overlap(
        starts_at, ends_at, (row.to_state() for row in live_windows()), exclude_id=exclude_id
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
        errors["starts_at"] = (
            f"Required: when the window starts ({example_moment(now)}, or 30m, 2h from now)."
        )
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
    data: WindowInput,
    actor: Actor,
    now: datetime | None = None,
    occurrence: tuple[int, datetime] | None = None,
) -> MaintenanceWindow:
    """Plan a window that starts later; refuse one that overlaps a scheduled or active window.

    `occurrence` (recurrence id, occurrence start) links a window app/services/recurrences.py plans.
    """
    now = now or utcnow()
    values = dict(data.values)
    _check_times(values, now)
    bump_version()  # the state-row lock: two schedulings cannot both pass the overlap check
    _refuse_overlap(values["starts_at"], values.get("ends_at"))
    window = MaintenanceWindow(
        **column_values(values), status=Status.SCHEDULED.value, created_by=actor.name, created_at=now
    )
    if occurrence is not None:
        window.recurrence_id, window.occurrence_at = occurrence
    db.session.add(window)
    db.session.flush()
    audit.record("maintenance.scheduled", actor, f"window:{window.id}", {"after": _snapshot(window)})
    # Same transaction: subscribers' notices. A recurrence plans weeks ahead, so the worker announces
    # each occurrence to email subscribers a week before it (subscriptions.queue_due_announcements);
    # webhook subscribers, programs, hear of it now (docs/notices.md, docs/webhook-subscribers.md).
    if occurrence is None:
        subscriptions.queue_notices(window, "scheduled", now)
    else:
        webhook_subscribers.queue_notice("scheduled", window, now)
    db.session.commit()
    hooks.emit("window.scheduled", window, actor=actor.name)
    return window


def _lock_scheduled(window_id: int, now: datetime, verb: str) -> MaintenanceWindow:
    """Take the state-row lock and return a window that has not started yet, or refuse."""
    bump_version()
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
    if "starts_at" not in values:  # a length (30m) counts from this window's start, not from now
        for name, offset in data.offsets.items():
            values[name] = window.starts_at + offset
    merged = {name: getattr(window, name) for name in SCHEDULE_EDITABLE}
    merged.update(values)
    _check_times(merged, now)
    _refuse_overlap(merged["starts_at"], merged.get("ends_at"), exclude_id=window.id)
    before = _snapshot(window)
    for name, value in column_values(values).items():
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
    subscriptions.queue_change_notices(window, changed, now)
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
    subscriptions.queue_notices(window, "cancelled", now)  # a correction for those told (docs/notices.md)
    db.session.commit()
    hooks.emit("window.cancelled", window, actor=actor.name)
    return window


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


def latest_windows(limit: int = 5) -> list[MaintenanceWindow]:
    """Return the most recently created windows, whatever their status, the latest first."""
    return list(
        db.session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc()).limit(limit))
    )


def find_window(window_id: int) -> MaintenanceWindow | None:
    """Return the window with this id, or None."""
    return db.session.get(MaintenanceWindow, window_id)
