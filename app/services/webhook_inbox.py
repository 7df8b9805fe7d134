"""The webhook inbox: verified inbound events stored, then handed to their provider's handler.

The receivers (app/blueprints/webhooks.py) verify a signature and call
`ingest`, one INSERT ... ON CONFLICT DO NOTHING committed before the 200, so a
sender's retry of a known event changes nothing. `process_inbox` (the worker)
hands pending events, in arrival order, to the handler registered for their
provider (`@handler("stripe")`); a handler that raises is retried with
exponential back-off (WEBHOOK_BACKOFF_SECONDS, doubling) and the event goes to
the dead-letter queue after WEBHOOK_MAX_ATTEMPTS, with an admin alert. While
the window in effect has `pause_webhook_processing` nothing is processed: the
events wait in the inbox and drain, oldest first, once the window ends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from pausa_gate.state import Actor
from pausa_gate.windows import window_in_effect
from sqlalchemy import func, select, text

from ..extensions import db
from ..models import PaymentEvent, WebhookEvent, utcnow
from . import audit
from .alerts import alert_dead_letter
from .claims import claim
from .state import load_gate_state
from .webhook_outbound import backoff, dialect_insert

log = logging.getLogger("pausa.webhooks")

PROVIDERS = ("stripe", "standard")
# Which setting each receiver needs; without it the receiver refuses everything.
SECRETS = {"stripe": "STRIPE_WEBHOOK_SECRETS", "standard": "STANDARD_WEBHOOK_SECRETS"}
STATUSES = ("pending", "processed", "dead")
# Only one worker drains the inbox at a time (strict arrival order); SKIP LOCKED stays as a second guard.
_INBOX_LOCK = 7_163_006


def ingest(provider: str, event_id: str, event_type: str | None, payload: bytes) -> bool:
    """Store one verified event, committed; True if new, False if (provider, event_id) was known."""
    now = utcnow()
    statement = dialect_insert(WebhookEvent).values(
        provider=provider,
        event_id=event_id[:255],
        event_type=(event_type or None) and event_type[:255],
        payload=payload.decode("utf-8"),
        status="pending",
        attempts=0,
        not_before=now,
        received_at=now,
    ).on_conflict_do_nothing(index_elements=["provider", "event_id"])
    try:
        new_id = db.session.execute(statement.returning(WebhookEvent.id)).scalar_one_or_none()
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return new_id is not None


# -- handler registry ------------------------------------------------------------------------

Handler = Callable[[WebhookEvent, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(provider: str, func: Handler | None = None) -> Any:
    """Register `func(event, body)` as the handler of `provider`'s events (replaces any previous one).

    It runs inside the worker's transaction (in a savepoint): its database
    writes commit with the event's `processed` status, or roll back if it raises.
    """

    def register(target: Handler) -> Handler:
        HANDLERS[provider] = target
        return target

    return register(func) if func is not None else register


def _record_payment(provider: str, event: WebhookEvent, obj: dict[str, Any]) -> None:
    amount = obj.get("amount", obj.get("amount_total"))
    currency = obj.get("currency")
    db.session.add(PaymentEvent(
        provider=provider,
        event_id=event.event_id,
        event_type=event.event_type,
        amount=amount if isinstance(amount, int) else None,
        currency=str(currency)[:8] if currency else None,
    ))


@handler("stripe")
def handle_stripe(event: WebhookEvent, body: dict[str, Any]) -> None:
    """Sample: record each Stripe event with the amount and currency of its `data.object`."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    obj = data.get("object") if isinstance(data.get("object"), dict) else {}
    _record_payment("stripe", event, obj)


@handler("standard")
def handle_standard(event: WebhookEvent, body: dict[str, Any]) -> None:
    """Sample: record each Standard Webhooks event (`{"type", "timestamp", "data"}`)."""
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    _record_payment("standard", event, data)


# -- processing ------------------------------------------------------------------------------


@dataclass
class InboxReport:
    held: bool = False
    processed: int = 0
    retried: int = 0
    dead: int = 0
    busy: bool = False  # another worker holds the inbox
    ids: list[int] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.processed + self.retried + self.dead


def processing_paused(now: datetime | None = None) -> bool:
    """True while the window in effect asks to hold webhook processing."""
    window = window_in_effect(load_gate_state(), now or utcnow())
    return bool(window and window.pause_webhook_processing)


def process_inbox(now: datetime | None = None, limit: int | None = None) -> InboxReport:
    """Process one batch of due pending events, in arrival order; one transaction."""
    now = now or utcnow()
    config = current_app.config
    limit = limit or int(config["WEBHOOK_BATCH_SIZE"])
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    base = float(config["WEBHOOK_BACKOFF_SECONDS"])
    report = InboxReport()
    if processing_paused(now):
        db.session.rollback()
        report.held = True
        return report
    dead_letters: list[tuple[str, str, str]] = []
    try:
        if db.session.get_bind().dialect.name == "postgresql":
            locked = db.session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _INBOX_LOCK})
            if not locked:
                db.session.rollback()
                report.busy = True
                return report
        events = claim(
            select(WebhookEvent)
            .where(WebhookEvent.status == "pending", WebhookEvent.not_before <= now)
            .order_by(WebhookEvent.id),
            limit,
        )
        for event in events:
            event.attempts += 1
            try:
                with db.session.begin_nested():
                    body = json.loads(event.payload)
                    func = HANDLERS.get(event.provider)
                    if func is None:
                        raise LookupError(f"no handler for provider {event.provider!r}")
                    func(event, body if isinstance(body, dict) else {"body": body})
                    db.session.flush()
            except Exception as error:  # a handler's failure is the event's, never the worker's
                event.last_error = f"{type(error).__name__}: {error}"[:2000]
                if event.attempts >= max_attempts:
                    event.status = "dead"
                    report.dead += 1
                    dead_letters.append((event.provider, event.event_id, event.last_error))
                else:
                    event.not_before = now + backoff(event.attempts, base)
                    report.retried += 1
            else:
                event.status = "processed"
                event.processed_at = now
                event.last_error = None
                report.processed += 1
            report.ids.append(event.id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if dead_letters:
        for provider, event_id, error in dead_letters:
            try:
                alert_dead_letter(provider, event_id, f"Last error: {error}")
            except Exception:  # the event is dead-lettered either way; the alert is best effort
                log.exception("could not raise the dead-letter alert for %s %s", provider, event_id)
    return report


def replay(event_pk: int, actor: Actor, now: datetime | None = None) -> WebhookEvent | None:
    """Put a dead-lettered event back in the inbox (audited `webhook.replayed`); None if not dead."""
    now = now or utcnow()
    event = db.session.get(WebhookEvent, event_pk, with_for_update=True)
    if event is None or event.status != "dead":
        db.session.rollback()
        return None
    event.status = "pending"
    event.attempts = 0
    event.not_before = now
    audit.record(
        "webhook.replayed", actor, f"webhook:{event.id}",
        {"provider": event.provider, "event_id": event.event_id, "last_error": event.last_error},
    )
    db.session.commit()
    return event


# -- dashboard and metrics -------------------------------------------------------------------


def counts_by_status() -> dict[str, int]:
    rows = db.session.execute(select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status))
    counts = {status: 0 for status in STATUSES}
    counts.update({status: count for status, count in rows})
    return counts


def latest_events(limit: int = 20) -> list[WebhookEvent]:
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)))


def pending_count() -> int:
    return db.session.scalar(select(func.count()).where(WebhookEvent.status == "pending")) or 0


def dead_count() -> int:
    return db.session.scalar(select(func.count()).where(WebhookEvent.status == "dead")) or 0
