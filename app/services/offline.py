"""Turn maintenance on and off while the database is down, then write it down when it returns.

With Redis configured, `flask maintenance on|off` keeps working when the
database does not answer: the change becomes a new state document (marked
pending) that every worker enforces at once, and the change waits in Redis.
When the database answers again, a worker writes each waiting change with the
moment it was made and an audit entry that says it was recorded late, then
moves the state version past the pending document so every worker takes the
database's state again. Without Redis nothing can hold the change: it is
refused. See docs/fail-safe.md.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import redis
from flask import current_app
from pausa_gate.cache import StateCache
from pausa_gate.state import Actor, GateState, WindowState
from pausa_gate.windows import utcnow

from ..extensions import NOTIFIER_KEY, STATE_CACHE_KEY, db
from ..gate.notifier import StateNotifier
from ..maintenance import offline
from ..maintenance.validation import ValidationError, check_consistency, validate_window
from . import Conflict, NotFound, ServiceError
from . import maintenance as maintenance_service
from . import state as state_service

log = logging.getLogger(__name__)

LATE = "recorded_late"


class Unavailable(ServiceError):
    """Neither the database nor Redis can take the change: nothing was changed."""


def _notifier() -> StateNotifier:
    notifier: StateNotifier | None = current_app.extensions.get(NOTIFIER_KEY)
    if notifier is None:
        raise Unavailable(
            "the database is unavailable and no REDIS_URL is set to hold the change: nothing was "
            "changed (the gate keeps enforcing the last known state)"
        )
    return notifier


def _state_cache() -> StateCache:
    """This worker's state cache (app/gate/inapp.py creates it)."""
    return current_app.extensions[STATE_CACHE_KEY]


def newest_state(notifier: StateNotifier) -> GateState | None:
    """The newest state known here: this process's, or the one published in Redis; None if neither."""
    held = _state_cache().current()
    known = None if held.unknown or held.version == 0 else held
    published = notifier.read()
    if published is not None and (known is None or published[0].version > known.version):
        known = published[0]
    return known


def _base(notifier: StateNotifier) -> GateState:
    """The state a change builds on; refuse when none is known (the workers would ignore it)."""
    base = newest_state(notifier)
    if base is None:
        raise Unavailable(
            "the database is unavailable and no copy of the current state answers (no document "
            "in Redis, no snapshot on this host): nothing was changed"
        )
    return base


def enforced_state() -> GateState | None:
    """What the gate enforces without the database (this process's or Redis's), for `status`."""
    notifier: StateNotifier | None = current_app.extensions.get(NOTIFIER_KEY)
    if notifier is None:
        held = _state_cache().current()
        return None if held.unknown or held.version == 0 else held
    return newest_state(notifier)


def activate(fields: dict[str, Any], actor: Actor, now: datetime | None = None) -> WindowState:
    """Start maintenance in Redis alone; the database records it when it returns."""
    now = now or utcnow()
    values = dict(validate_window(fields, now).values)
    values.pop("starts_at", None)
    errors: dict[str, str] = {}
    check_consistency(values, errors)
    if errors:
        raise ValidationError(errors)
    notifier = _notifier()
    with _refusals(Conflict):
        base = _base(notifier)
        window = offline.provisional_window(notifier.provisional_window_id(), values, now)
        state = offline.activated(base, window, now)
        change = {"action": "activate", "fields": fields, "window": window.id}
        _publish(notifier, state, change, actor, now)
    return window


def end(actor: Actor, now: datetime | None = None) -> WindowState:
    """End the window in effect in Redis alone; the database records it when it returns."""
    now = now or utcnow()
    notifier = _notifier()
    with _refusals(NotFound):
        state, window = offline.ended(_base(notifier), now)
        _publish(notifier, state, {"action": "end", "window": window.id}, actor, now)
    return window


@contextlib.contextmanager
def _refusals(conflict: type[ServiceError]) -> Iterator[None]:
    """Turn Redis failures and offline conflicts into the service errors adapters answer with."""
    try:
        yield
    except redis.TimeoutError:
        raise Unavailable(
            "Redis did not answer in time: the change may or may not have been recorded; check "
            "with `flask maintenance status` before trying again"
        ) from None
    except redis.RedisError as error:
        raise Unavailable(f"neither the database nor Redis answers: nothing was changed ({error})") from None
    except offline.OfflineConflict as error:
        raise conflict(str(error)) from None


def _publish(notifier: StateNotifier, state: GateState, change: dict[str, Any], actor: Actor,
             now: datetime) -> None:
    record = json.dumps({**change, "actor": actor.name, "at": now.isoformat()}, sort_keys=True)
    if not notifier.publish_pending(state, record):
        raise Conflict("The maintenance state changed meanwhile; run the command again.")
    _state_cache().adopt(state, now)
    log.warning("maintenance %s by %s held in Redis until the database returns", change["action"], actor.name)


def replay() -> int:
    """Write the changes made while the database was down, in order; return how many were written.

    One process at a time (a Redis lock). Each change is its own transaction with
    its audit entry, dated when it was made; a change the database refuses (say,
    someone ended the window another way meanwhile) is logged and dropped.
    """
    notifier: StateNotifier | None = current_app.extensions.get(NOTIFIER_KEY)
    if notifier is None or not notifier.lock_replay():
        return 0
    written = 0
    try:
        for raw in notifier.pending_changes():
            change = json.loads(raw)
            at = datetime.fromisoformat(change["at"])
            actor = Actor(change["actor"])
            late = {LATE: True, "made_at": at.isoformat(),
                    "why": "made while the database was unavailable, recorded when it returned"}
            try:
                if change["action"] == "activate":
                    data = validate_window(change["fields"], at)
                    maintenance_service.activate_window(data, actor, now=at, late=late)
                else:
                    maintenance_service.end_window(actor, now=at, late=late)
                written += 1
            except (ServiceError, ValidationError) as error:
                db.session.rollback()
                log.warning("a change made while the database was down was not recorded: %s (%s)",
                            change, error)
            notifier.drop_change(raw)
        published = notifier.read()
        if published is not None and published[0].pending:
            state_service.supersede_version(published[0].version)
    finally:
        notifier.unlock_replay()
    if written:
        log.warning("recorded %d maintenance change(s) made while the database was down", written)
    return written
