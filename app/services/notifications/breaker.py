"""The mail circuit breaker: one row ("sendgrid") shared by every worker, so a failing provider rests."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import SYSTEM
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ...extensions import db
from ...models import CircuitBreaker, utcnow
from .. import audit

log = logging.getLogger("pausa.notifications")

BREAKER = "sendgrid"
# How long a call may be in flight (far longer than any HTTP timeout): a row `sending` for longer
# was abandoned by its worker, and a half-open trial that lasts longer is given up.
LEASE = timedelta(minutes=10)


def breaker_row(lock: bool = False) -> CircuitBreaker:
    """The "sendgrid" breaker row (created closed), locked until commit when `lock` (PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    statement = select(CircuitBreaker).where(CircuitBreaker.name == BREAKER)
    if lock and dialect == "postgresql":
        statement = statement.with_for_update()
    row = db.session.scalar(statement.execution_options(populate_existing=True))
    if row is None:
        # Two workers may both find no row: create it in a way that cannot collide.
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(
            insert(CircuitBreaker)
            .values(name=BREAKER, state="closed", failures=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = db.session.scalar(statement.execution_options(populate_existing=True))
    return row


def circuit_state() -> dict[str, Any]:
    """The breaker as the dashboard and /health/ready show it."""
    row = db.session.get(CircuitBreaker, BREAKER)
    if row is None:
        return {"state": "closed", "failures": 0, "retry_at": None, "opened_at": None, "last_error": None}
    return {
        "state": row.state,
        "failures": row.failures,
        "retry_at": row.retry_at,
        "opened_at": row.opened_at,
        "last_error": row.last_error,
    }


def may_call(now: datetime) -> tuple[bool, bool, str]:
    """Ask the breaker: (may call, is the half-open trial, state). Commits a transition to half-open."""
    row = breaker_row(lock=True)
    state = row.state
    if state == "closed":
        db.session.commit()
        return True, False, state
    if row.retry_at is not None and row.retry_at > now:
        # open and cooling down, or half-open with another worker's trial under way
        db.session.commit()
        return False, False, state
    # Cool-down over (or an abandoned trial): this worker takes the one trial batch;
    # retry_at bounds the trial, so a worker killed during it does not block sending forever.
    row.state = "half_open"
    row.retry_at = now + LEASE
    db.session.commit()
    log.info("mail circuit half-open: one trial batch")
    return True, True, "half_open"


def record_call(ok: bool, error: str | None, now: datetime) -> CircuitBreaker | None:
    """Count a call's outcome in the current transaction; the breaker when this failure opened it."""
    row = breaker_row(lock=True)
    if ok:
        row.state, row.failures, row.retry_at, row.opened_at = "closed", 0, None, None
        return None
    row.failures += 1
    row.last_error = (error or "")[:1000]
    threshold = int(current_app.config["CIRCUIT_FAILURE_THRESHOLD"])
    if row.state == "half_open" or (row.state == "closed" and row.failures >= threshold):
        row.state = "open"
        row.opened_at = now
        row.retry_at = now + timedelta(seconds=int(current_app.config["CIRCUIT_COOLDOWN_SECONDS"]))
        audit.record("mail.circuit_open", SYSTEM, f"circuit:{BREAKER}",
                     {"failures": row.failures, "retry_at": row.retry_at, "error": row.last_error})
        return row
    return None


def give_back_trial() -> None:
    """The half-open trial found nothing to send: let the next due batch be the trial, now."""
    row = breaker_row(lock=True)
    if row.state == "half_open":
        row.retry_at = None
    db.session.commit()
