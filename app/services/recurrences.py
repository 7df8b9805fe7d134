"""Use cases of recurring windows: create, update, pause, resume, delete, and plan ahead.

Each change of a recurrence and its audit entry are one transaction. Its occurrences are
ordinary windows made by scheduling.schedule_window (so notices, banner, drain and feeds all
see them), each linked by (recurrence_id, occurrence_at), unique together: an occurrence is
never planned twice, whatever the number of workers. Rules in docs/recurrences.md:

- skipping an occurrence is cancelling its window: the slot stays taken, it is not re-planned;
- moving one is editing its window's times: it stays linked, and the recurrence leaves it alone;
- editing the recurrence changes its future untouched occurrences (moved ones are kept);
- pausing or deleting it cancels its future untouched occurrences, unlinked from their slots
  (occurrence_at cleared) so that resuming plans those slots again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pausa_gate.state import SYSTEM, Actor, Status
from pausa_gate.windows import utcnow
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..maintenance import recurrence as rules
from ..maintenance.validation import ValidationError, validate_window
from ..models import MaintenanceWindow, Recurrence
from . import Conflict, NotFound, ServiceError, audit, scheduling
from .state import bump_version

log = logging.getLogger(__name__)

ACTIVE, PAUSED, DELETED = "active", "paused", "deleted"


def spec(recurrence: Recurrence) -> dict[str, Any]:
    """Return the recurrence as the spec the API and CLI read and write."""
    return {**recurrence.rule, **recurrence.window}


def rule_of(recurrence: Recurrence) -> rules.Rule:
    return rules.parse_rule(recurrence.rule)


def _get(recurrence_id: int, *, lock: bool = False) -> Recurrence:
    if lock:
        bump_version()  # the state-row lock: one change of a recurrence (and its planning) at a time
    recurrence = db.session.get(Recurrence, recurrence_id, populate_existing=True)
    if recurrence is None or recurrence.status == DELETED:
        db.session.rollback()
        raise NotFound(f"There is no recurrence {recurrence_id}.")
    return recurrence


def list_recurrences() -> list[Recurrence]:
    """Every recurrence not deleted, the oldest first."""
    return list(
        db.session.scalars(
            select(Recurrence).where(Recurrence.status != DELETED).order_by(Recurrence.id)
        )
    )


def get_recurrence(recurrence_id: int) -> Recurrence:
    return _get(recurrence_id)


def upcoming_occurrences(recurrence: Recurrence, now: datetime | None = None) -> list[MaintenanceWindow]:
    """The recurrence's planned windows that have not ended, skipped ones included, soonest first."""
    now = now or utcnow()
    return list(
        db.session.scalars(
            select(MaintenanceWindow)
            .where(
                MaintenanceWindow.recurrence_id == recurrence.id,
                MaintenanceWindow.occurrence_at.is_not(None),
                (MaintenanceWindow.ends_at.is_(None)) | (MaintenanceWindow.ends_at > now),
                MaintenanceWindow.status != Status.COMPLETED.value,
            )
            .order_by(MaintenanceWindow.occurrence_at)
        )
    )


def is_moved(window: MaintenanceWindow, rule: rules.Rule) -> bool:
    """Tell whether an admin moved this occurrence: its times are not the ones the rule gave it."""
    if window.occurrence_at is None:
        return False
    planned = rules.occurrence_at(rule, window.occurrence_at)
    return planned is None or (window.starts_at, window.ends_at) != (planned.starts_at, planned.ends_at)


def _window_input(recurrence: Recurrence, occurrence: rules.Occurrence, now: datetime):
    data = validate_window(recurrence.window, now)
    data.values.setdefault("messages", {})  # the recurrence's languages replace the window's
    data.values.update(starts_at=occurrence.starts_at, eta=occurrence.ends_at, ends_at=occurrence.ends_at)
    return data


def create_recurrence(data: Mapping[str, Any], actor: Actor, now: datetime | None = None) -> Recurrence:
    """Define a recurrence and plan its next occurrences."""
    now = now or utcnow()
    rule, window = rules.validate_recurrence(data, now)
    recurrence = Recurrence(rule=rule.to_spec(), window=window, status=ACTIVE, created_by=actor.name,
                            created_at=now)
    db.session.add(recurrence)
    db.session.flush()
    audit.record("recurrence.created", actor, f"recurrence:{recurrence.id}", {"after": spec(recurrence)})
    db.session.commit()
    plan_recurrence(recurrence.id, now)
    return recurrence


def update_recurrence(
    recurrence_id: int, data: Mapping[str, Any], actor: Actor, now: datetime | None = None
) -> Recurrence:
    """Change a recurrence (any spec field); its future untouched occurrences follow."""
    now = now or utcnow()
    recurrence = _get(recurrence_id, lock=True)
    before = spec(recurrence)
    old_rule = rule_of(recurrence)
    try:
        rule, window = rules.validate_recurrence({**before, **data}, now)
    except ValidationError:
        db.session.rollback()
        raise
    recurrence.rule, recurrence.window = rule.to_spec(), window
    after = spec(recurrence)
    changed = sorted(name for name in {*before, *after} if before.get(name) != after.get(name))
    if not changed:
        db.session.rollback()
        return recurrence
    audit.record(
        "recurrence.updated",
        actor,
        f"recurrence:{recurrence.id}",
        {
            "before": {name: before.get(name) for name in changed},
            "after": {name: after.get(name) for name in changed},
        },
    )
    db.session.commit()
    if recurrence.status == ACTIVE:
        _replan(recurrence, old_rule, actor, now)
    return recurrence


def _untouched_future(recurrence: Recurrence, rule: rules.Rule, now: datetime) -> list[MaintenanceWindow]:
    return [
        window
        for window in db.session.scalars(
            select(MaintenanceWindow)
            .where(
                MaintenanceWindow.recurrence_id == recurrence.id,
                MaintenanceWindow.occurrence_at.is_not(None),
                MaintenanceWindow.status == Status.SCHEDULED.value,
                MaintenanceWindow.starts_at > now,
            )
            .order_by(MaintenanceWindow.starts_at)
        )
        if not is_moved(window, rule)
    ]


def _call_off(window_id: int, actor: Actor, now: datetime) -> None:
    """Cancel an occurrence for the recurrence and free its slot, in one transaction."""
    window = db.session.get(MaintenanceWindow, window_id)
    window.occurrence_at = None
    db.session.flush()
    try:
        scheduling.cancel_window(window_id, actor, now)
    except ServiceError as error:  # it started meanwhile: leave it be
        log.info("recurrence: window %s not cancelled: %s", window_id, error.message)


def _replan(recurrence: Recurrence, old_rule: rules.Rule, actor: Actor, now: datetime) -> None:
    """Bring future untouched occurrences in line with the recurrence as it is now."""
    new_rule = rule_of(recurrence)
    wanted = {occurrence.starts_at: occurrence for occurrence in rules.plan_ahead(new_rule, now)}
    for window in _untouched_future(recurrence, old_rule, now):
        occurrence = wanted.get(window.occurrence_at)
        if occurrence is None:
            _call_off(window.id, actor, now)
            continue
        data = _window_input(recurrence, occurrence, now)
        try:
            scheduling.update_scheduled_window(window.id, data, actor, now)
        except ServiceError as error:  # it overlaps another window now: call this one off instead
            log.info("recurrence %s: window %s not updated: %s", recurrence.id, window.id, error.message)
            _call_off(window.id, actor, now)
    plan_recurrence(recurrence.id, now)


def _set_status(recurrence_id: int, status: str, action: str, actor: Actor, now: datetime) -> Recurrence:
    recurrence = _get(recurrence_id, lock=True)
    if recurrence.status == status:
        db.session.rollback()
        return recurrence
    rule = rule_of(recurrence)
    recurrence.status = status
    if status == DELETED:
        recurrence.deleted_at = now
    audit.record(action, actor, f"recurrence:{recurrence.id}", {"spec": spec(recurrence)})
    db.session.commit()
    if status == ACTIVE:
        plan_recurrence(recurrence.id, now)
    else:
        for window in _untouched_future(recurrence, rule, now):
            _call_off(window.id, actor, now)
    return recurrence


def pause_recurrence(recurrence_id: int, actor: Actor, now: datetime | None = None) -> Recurrence:
    """Stop planning; future untouched occurrences are cancelled (moved ones are kept)."""
    return _set_status(recurrence_id, PAUSED, "recurrence.paused", actor, now or utcnow())


def resume_recurrence(recurrence_id: int, actor: Actor, now: datetime | None = None) -> Recurrence:
    """Plan again from now on."""
    return _set_status(recurrence_id, ACTIVE, "recurrence.resumed", actor, now or utcnow())


def delete_recurrence(recurrence_id: int, actor: Actor, now: datetime | None = None) -> Recurrence:
    """Delete a recurrence; its future untouched occurrences are cancelled, its past ones kept."""
    return _set_status(recurrence_id, DELETED, "recurrence.deleted", actor, now or utcnow())


def _planned(recurrence_id: int, rule: rules.Rule, starts_at: datetime) -> bool:
    """Tell whether the recurrence already has an occurrence that local day (moved or skipped too).

    One a day: after an edit of the times, an occurrence the admin moved still stands for its day.
    """
    day = starts_at.astimezone(rule.zone).date()
    taken = db.session.scalars(
        select(MaintenanceWindow.occurrence_at).where(
            MaintenanceWindow.recurrence_id == recurrence_id,
            MaintenanceWindow.occurrence_at > starts_at - timedelta(days=2),
            MaintenanceWindow.occurrence_at < starts_at + timedelta(days=2),
        )
    )
    return any(moment.astimezone(rule.zone).date() == day for moment in taken)


def plan_recurrence(recurrence_id: int, now: datetime | None = None) -> list[MaintenanceWindow]:
    """Schedule the recurrence's next occurrences not planned yet (rules.plan_ahead says which)."""
    now = now or utcnow()
    recurrence = db.session.get(Recurrence, recurrence_id, populate_existing=True)
    if recurrence is None or recurrence.status != ACTIVE:
        db.session.rollback()
        return []
    rule = rule_of(recurrence)
    occurrences = rules.plan_ahead(rule, now)
    missing = [item for item in occurrences if not _planned(recurrence_id, rule, item.starts_at)]
    db.session.rollback()  # the usual case ends here: nothing to plan, no lock taken
    planned: list[MaintenanceWindow] = []
    for occurrence in missing:
        bump_version()  # another worker may have planned it meanwhile: look again under the lock
        recurrence = db.session.get(Recurrence, recurrence_id, populate_existing=True)
        if recurrence.status != ACTIVE or rule_of(recurrence) != rule or _planned(
            recurrence_id, rule, occurrence.starts_at
        ):
            db.session.rollback()
            continue
        try:
            window = scheduling.schedule_window(
                _window_input(recurrence, occurrence, now), SYSTEM, now,
                occurrence=(recurrence_id, occurrence.starts_at),
            )
        except (Conflict, ValidationError) as error:  # e.g. it overlaps a window planned by hand
            db.session.rollback()
            log.warning("recurrence %s: occurrence at %s not planned: %s", recurrence_id,
                        occurrence.starts_at.isoformat(), error)
            continue
        except IntegrityError:  # planned by another worker after all: the unique pair held
            db.session.rollback()
            continue
        planned.append(window)
    return planned


def plan_ahead(now: datetime | None = None) -> list[MaintenanceWindow]:
    """Plan every active recurrence's next occurrences; idempotent, safe with several workers."""
    now = now or utcnow()
    ids = list(
        db.session.scalars(select(Recurrence.id).where(Recurrence.status == ACTIVE).order_by(Recurrence.id))
    )
    db.session.rollback()
    planned: list[MaintenanceWindow] = []
    for recurrence_id in ids:
        planned.extend(plan_recurrence(recurrence_id, now))
    return planned


def recurrence_json(recurrence: Recurrence, now: datetime | None = None) -> dict[str, Any]:
    """Describe a recurrence for admins: its spec, status and the occurrences still to come."""
    rule = rule_of(recurrence)
    return {
        "id": recurrence.id,
        "status": recurrence.status,
        **spec(recurrence),
        "created_by": recurrence.created_by,
        "occurrences": [
            {
                "window_id": window.id,
                "status": window.status,
                "occurrence_at": window.occurrence_at.isoformat(),
                "starts_at": window.starts_at.isoformat(),
                "ends_at": window.ends_at.isoformat() if window.ends_at else None,
                "moved": is_moved(window, rule),
            }
            for window in upcoming_occurrences(recurrence, now)
        ],
    }
