"""What admins do to the window in effect: activate, update, extend, end; and how any window starts or ends.

`record_start` and `record_end` are the one place a window is recorded as started or
ended; the clock (app/services/clock.py) uses them too. Planned windows are in
app/services/scheduling.py, the state version and the gate's snapshot in
app/services/state.py (docs/windows.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pausa_gate.state import SYSTEM, Actor, Status
from pausa_gate.windows import utcnow
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import hooks
from ..extensions import db
from ..maintenance.validation import (
    MAX_MINUTES,
    ValidationError,
    WindowInput,
    check_consistency,
    column_values,
)
from ..models import MaintenanceWindow
from . import Conflict, NotFound, audit, subscriptions
from .state import bump_version, current_window, windows_in_effect

# How a window ended on its own: its automatic end (`ends_at`) passed.
AUTO = "auto"


def activate_window(
    data: WindowInput, actor: Actor, now: datetime | None = None, late: dict[str, Any] | None = None
) -> MaintenanceWindow:
    """Start maintenance now; refuse when a window is already in effect.

    `late` describes an activation made while the database was down (services/offline.py):
    `now` is then the moment it was made, and the audit entry says so.
    """
    now = now or utcnow()
    bump_version()  # takes the state-row lock first so two activations serialise
    existing = current_window(now)
    if existing is not None:
        db.session.rollback()
        raise Conflict(f"Maintenance is already active (window {existing.id}); update or end it.")
    values = dict(data.values)
    values.pop("starts_at", None)
    errors: dict[str, str] = {}
    check_consistency(values, errors)
    if errors:
        db.session.rollback()
        raise ValidationError(errors)
    window = MaintenanceWindow(
        **column_values(values),
        status=Status.ACTIVE.value,
        starts_at=now,
        created_by=actor.name,
        created_at=now,
        started_by=actor.name,
        started_at=now,
    )
    db.session.add(window)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Maintenance is already active; update or end it.") from None
    audit.record(
        "maintenance.activated", actor, f"window:{window.id}", {"after": window.snapshot(), **(late or {})}
    )
    subscriptions.queue_notices(window, "started", now)  # same transaction: standing subscribers' notices
    db.session.commit()
    hooks.emit("window.started", window, actor=actor.name)
    return window


def planned_during(window: MaintenanceWindow) -> MaintenanceWindow | None:
    """Return the first scheduled window that starts while `window` may still be in effect."""
    query = select(MaintenanceWindow).where(
        MaintenanceWindow.status == Status.SCHEDULED.value,
        MaintenanceWindow.starts_at > window.starts_at,
        MaintenanceWindow.id != window.id,
    )
    if window.ends_at is not None:
        query = query.where(MaintenanceWindow.starts_at < window.ends_at)
    return db.session.scalar(query.order_by(MaintenanceWindow.starts_at).limit(1))


def _lock_active_window(now: datetime) -> MaintenanceWindow:
    """Take the state-row lock and return the window in effect, or refuse with NotFound."""
    bump_version()
    window = current_window(now)
    if window is None:
        db.session.rollback()
        raise NotFound("No maintenance is active.")
    return window


def update_window(
    data: WindowInput, actor: Actor, now: datetime | None = None
) -> MaintenanceWindow:
    """Change the active window's fields; the audit entry keeps before and after."""
    now = now or utcnow()
    window = _lock_active_window(now)
    values = dict(data.values)
    values.pop("starts_at", None)
    merged = {**{name: getattr(window, name) for name in MaintenanceWindow.EDITABLE}, **values}
    errors: dict[str, str] = {}
    check_consistency(merged, errors)
    if errors:
        db.session.rollback()
        raise ValidationError(errors)
    before = window.snapshot()
    for name, value in column_values(values).items():
        setattr(window, name, value)
    after = window.snapshot()
    changed = {name for name in after if after[name] != before[name]}
    if not changed:
        db.session.rollback()
        return window
    if "eta" in changed:
        window.overdue_alerted_at = None  # a new ETA that passes is alerted again
    audit.record(
        "maintenance.updated",
        actor,
        f"window:{window.id}",
        {
            "before": {name: before[name] for name in sorted(changed)},
            "after": {name: after[name] for name in sorted(changed)},
        },
    )
    subscriptions.queue_change_notices(window, changed, now)
    db.session.commit()
    hooks.emit("window.updated", window, actor=actor.name, changed=sorted(changed))
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
    subscriptions.queue_change_notices(window, ["ends_at"], now)
    db.session.commit()
    hooks.emit("window.updated", window, actor=actor.name, changed=["ends_at"])
    return window


@dataclass(frozen=True)
class Ended:
    """What ending maintenance did: the windows it ended and the one still enforced, if any."""

    windows: list[MaintenanceWindow]
    still_in_effect: MaintenanceWindow | None = None


def end_maintenance(
    actor: Actor, how: str = "manual", now: datetime | None = None, late: dict[str, Any] | None = None,
    window_id: int | None = None,
) -> Ended:
    """End maintenance now: every window in effect, so the site really comes back.

    With `window_id`, end only that window: a deploy ends the window it started, never one
    someone else started meanwhile (a 409 when it is not in effect and another one is). A planned
    window that started during it then stays in effect, and `still_in_effect` says so.
    `now` is the moment of an end made while the database was down (services/offline.py).
    """
    now = now or utcnow()
    bump_version()  # the state-row lock: the same order as every other change
    in_effect = windows_in_effect(now)
    if not in_effect:
        db.session.rollback()
        raise NotFound("No maintenance is active.")
    ending = in_effect
    if window_id is not None:
        ending = [window for window in in_effect if window.id == window_id]
        if not ending:
            db.session.rollback()
            raise Conflict(
                f"Window {window_id} is not the active one (window {in_effect[0].id} is); it was left on."
            )
    for window in ending:
        record_end(window, actor, how, now, late=late)
    db.session.commit()
    for window in ending:
        hooks.emit("window.ended", window, actor=actor.name, how=how)
    remaining = [window for window in in_effect if window not in ending]
    return Ended(ending, remaining[0] if remaining else None)


def end_window(
    actor: Actor, how: str = "manual", now: datetime | None = None, late: dict[str, Any] | None = None,
    window_id: int | None = None,
) -> MaintenanceWindow:
    """End maintenance now (see end_maintenance) and return the first window it ended."""
    return end_maintenance(actor, how, now, late, window_id).windows[0]


# -- a window's transitions, shared with the clock (services/clock.py) -------------------


def record_start(window: MaintenanceWindow, now: datetime, status: Status = Status.ACTIVE) -> None:
    """Record that a planned window started at its `starts_at`, by the system, with its audit entry."""
    window.status = status.value
    window.started_at = window.starts_at
    window.started_by = SYSTEM.name
    audit.record(
        "maintenance.started",
        SYSTEM,
        f"window:{window.id}",
        {"how": "scheduled", "starts_at": window.starts_at.isoformat(),
         "late_seconds": int((now - window.starts_at).total_seconds())},
    )


def record_end(
    window: MaintenanceWindow, actor: Actor, how: str, now: datetime, *, late: dict[str, Any] | None = None
) -> None:
    """End one window in the caller's transaction: state version, status, audit entry, notices.

    `how` is AUTO when its automatic end passed: it ended at its `ends_at`, else at `now`.
    A planned window in effect whose start the worker has not recorded yet is recorded as
    started too, straight to completed: never flushed as active, since another window may
    hold that slot. The caller commits, then emits `window.ended` (hooks run after a commit).
    """
    bump_version()  # the state-row lock; a no-op when the caller took it already
    if window.status == Status.SCHEDULED.value:
        record_start(window, now, Status.COMPLETED)
    if window.started_at is None:
        window.started_at = window.starts_at
    ended_at = window.ends_at if how == AUTO else now
    window.status = Status.COMPLETED.value
    window.ended_at = ended_at
    window.ended_by = actor.name
    window.ended_how = how
    if how == AUTO:
        details = {"how": how, "ends_at": window.ends_at.isoformat()}
    else:
        details = {
            "how": how,
            "started_at": window.started_at.isoformat(),
            "duration_seconds": int((now - window.started_at).total_seconds()),
            **(late or {}),
        }
    audit.record("maintenance.ended", actor, f"window:{window.id}", details)
    subscriptions.queue_deliveries(window, ended_at)  # same transaction: "we're back" emails are owed
    subscriptions.queue_end_notices(window, now)
