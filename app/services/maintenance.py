"""Use cases of maintenance windows: activate, update, end, and read the state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pausa_gate.state import SYSTEM, Actor, GateState, Status
from pausa_gate.windows import LIVE_STATUSES, is_in_effect, utcnow
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from .. import hooks
from ..extensions import db
from ..gate.notifier import mark_state_changed
from ..maintenance.validation import ValidationError, WindowInput, check_consistency
from ..models import MaintenanceState, MaintenanceWindow
from ..worker import claim
from . import Conflict, NotFound, audit, subscriptions

STATE_ROW_ID = 1


def read_version() -> int:
    """Read the state version: one primary-key lookup."""
    version = db.session.scalar(
        select(MaintenanceState.version).where(MaintenanceState.id == STATE_ROW_ID)
    )
    db.session.commit()  # end the read transaction so no connection sits idle in one
    return version or 0


def load_gate_state() -> GateState:
    """Build the gate's snapshot: the version and every window that can still affect traffic."""
    version = db.session.scalar(
        select(MaintenanceState.version).where(MaintenanceState.id == STATE_ROW_ID)
    )
    windows = db.session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.status.in_([status.value for status in LIVE_STATUSES]))
        .order_by(MaintenanceWindow.starts_at)
    ).all()
    from .bypass import live_link_keys  # bypass links: a revocation moves the version too

    state = GateState(
        version=version or 0,
        windows=tuple(window.to_state() for window in windows),
        bypass_links=live_link_keys([window.id for window in windows]),
    )
    db.session.commit()
    return state


def _bump_version() -> MaintenanceState:
    """Lock the state row and move its version, inside the caller's transaction."""
    state = db.session.get(MaintenanceState, STATE_ROW_ID, with_for_update=True)
    if state is None:
        state = MaintenanceState(id=STATE_ROW_ID, version=0)
        db.session.add(state)
    state.version += 1
    state.updated_at = utcnow()
    mark_state_changed(db.session())  # every worker revalidates once this commits
    return state


def supersede_version(at_least: int) -> int:
    """Move the state version past `at_least`, so every worker takes the database's state again."""
    state = _bump_version()
    state.version = max(state.version, at_least + 1)
    db.session.commit()
    return state.version


def current_window(now: datetime | None = None) -> MaintenanceWindow | None:
    """Return the window in effect now, from the database."""
    now = now or utcnow()
    for window in db.session.scalars(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.status.in_([status.value for status in LIVE_STATUSES]))
        .order_by(MaintenanceWindow.starts_at)
    ):
        if is_in_effect(window.to_state(), now):
            return window
    return None


def activate_window(
    data: WindowInput, actor: Actor, now: datetime | None = None, late: dict[str, Any] | None = None
) -> MaintenanceWindow:
    """Start maintenance now; refuse when a window is already in effect.

    `late` describes an activation made while the database was down (services/offline.py):
    `now` is then the moment it was made, and the audit entry says so.
    """
    now = now or utcnow()
    _bump_version()  # takes the state-row lock first so two activations serialise
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
        **_stored(values),
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
    db.session.commit()
    hooks.emit("window.started", window, actor=actor.name)
    return window


def _lock_active_window(now: datetime) -> MaintenanceWindow:
    """Take the state-row lock and return the window in effect, or refuse with NotFound."""
    _bump_version()
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
    for name, value in _stored(values).items():
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
    db.session.commit()
    hooks.emit("window.updated", window, actor=actor.name, changed=sorted(changed))
    return window


def end_window(
    actor: Actor, how: str = "manual", now: datetime | None = None, late: dict[str, Any] | None = None,
    window_id: int | None = None,
) -> MaintenanceWindow:
    """End the active window now (or at `now`, for an end made while the database was down).

    With `window_id`, end it only if it is that window: a deploy ends the window it started,
    never one someone else started meanwhile (a 409 then).
    """
    now = now or utcnow()
    window = _lock_active_window(now)
    if window_id is not None and window.id != window_id:
        db.session.rollback()
        raise Conflict(f"Window {window_id} is not the active one (window {window.id} is); it was left on.")
    window.status = Status.COMPLETED.value
    window.ended_at = now
    window.ended_by = actor.name
    window.ended_how = how
    if window.started_at is None:
        window.started_at = window.starts_at
    audit.record(
        "maintenance.ended",
        actor,
        f"window:{window.id}",
        {
            "how": how,
            "started_at": window.started_at.isoformat(),
            "duration_seconds": int((now - window.started_at).total_seconds()),
            **(late or {}),
        },
    )
    subscriptions.queue_deliveries(window, now)  # same transaction: "we're back" emails are owed
    db.session.commit()
    hooks.emit("window.ended", window, actor=actor.name, how=how)
    return window


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
    _bump_version()
    expired = claim(select(MaintenanceWindow).where(*_expired(now)).order_by(MaintenanceWindow.id), limit)
    if not expired:
        db.session.rollback()
        return []
    for window in expired:
        window.status = Status.COMPLETED.value
        window.ended_at = window.ends_at
        window.ended_by = "system"
        window.ended_how = "auto"
        audit.record(
            "maintenance.ended",
            SYSTEM,
            f"window:{window.id}",
            {"how": "auto", "ends_at": window.ends_at.isoformat()},
        )
        subscriptions.queue_deliveries(window, window.ends_at)  # same transaction as the end
    db.session.commit()
    for window in expired:
        hooks.emit("window.ended", window, actor=SYSTEM.name, how="auto")
    return expired


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    """Turn validated values into column values (enums to their text)."""
    stored = {}
    for name, value in values.items():
        stored[name] = getattr(value, "value", value)
    return stored
