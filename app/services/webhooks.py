"""Webhooks: the inbox of verified inbound events, its worker, and outbound deliveries.

Inbound: the receivers (app/blueprints/webhooks.py) verify a signature and call
`ingest`, one INSERT ... ON CONFLICT DO NOTHING committed before the 200, so a
sender's retry of a known event changes nothing. `process_inbox` (the worker)
hands pending events, in arrival order, to the handler registered for their
provider (`@handler("stripe")`); a handler that raises is retried with
exponential back-off (WEBHOOK_BACKOFF_SECONDS, doubling) and the event goes to
the dead-letter queue after WEBHOOK_MAX_ATTEMPTS, with an admin alert. While
the window in effect has `pause_webhook_processing` nothing is processed: the
events wait in the inbox and drain, oldest first, once the window ends.

Outbound: every window transition is queued (`OutboundWebhook`, one row per
OUTBOUND_WEBHOOK_URLS entry) by hook handlers, and POSTed by the worker signed
with the Standard Webhooks scheme (OUTBOUND_WEBHOOK_SECRET), with retries.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import Actor
from pausa_gate.windows import window_in_effect
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from .. import hooks
from ..extensions import db
from ..maintenance.signatures import standard_headers
from ..models import OutboundWebhook, PaymentEvent, WebhookEvent, utcnow
from ..worker import claim
from . import audit
from .maintenance import load_gate_state

log = logging.getLogger("pausa.webhooks")

PROVIDERS = ("stripe", "standard")
STATUSES = ("pending", "processed", "dead")
# Only one worker drains the inbox at a time (strict arrival order); SKIP LOCKED stays as a second guard.
_INBOX_LOCK = 7_163_006

# -- ingest ----------------------------------------------------------------------------------


def _insert(model: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"webhooks do not support the {dialect} dialect")  # pragma: no cover


def ingest(provider: str, event_id: str, event_type: str | None, payload: bytes) -> bool:
    """Store one verified event, committed; True if new, False if (provider, event_id) was known."""
    now = utcnow()
    statement = _insert(WebhookEvent).values(
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


def backoff(attempts: int, base: float) -> timedelta:
    """Delay before the next attempt after `attempts` failed ones: base, 2·base, 4·base, …"""
    return timedelta(seconds=base * (2 ** max(attempts - 1, 0)))


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
        from .alerts import alert_dead_letter

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


def outbound_queued_count() -> int:
    return db.session.scalar(select(func.count()).where(OutboundWebhook.status == "queued")) or 0


# -- outbound --------------------------------------------------------------------------------

OUTBOUND_EVENTS = ("window.scheduled", "window.started", "window.updated", "window.ended", "window.cancelled")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def window_payload(event: str, window: Any, details: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The Standard Webhooks body of one transition: `{"type", "timestamp", "data"}`."""
    data = {
        "id": getattr(window, "id", None),
        "status": str(getattr(window, "status", "") or "") or None,
        "mode": str(getattr(window, "mode", "") or "") or None,
        "reason": str(getattr(window, "reason", "") or "") or None,
        "message": getattr(window, "message", None),
        "starts_at": _iso(getattr(window, "starts_at", None)),
        "eta": _iso(getattr(window, "eta", None)),
        "ends_at": _iso(getattr(window, "ends_at", None)),
        "ended_at": _iso(getattr(window, "ended_at", None)),
    }
    data.update({key: value for key, value in details.items() if key != "actor"})
    return {"type": event, "timestamp": now.isoformat(), "data": data}


def queue_outbound(event: str, window: Any, **details: Any) -> int:
    """Queue one signed POST of `event` per OUTBOUND_WEBHOOK_URLS entry; its own transaction."""
    config = current_app.config
    urls = config.get("OUTBOUND_WEBHOOK_URLS") or ()
    if not urls:
        return 0
    if not config.get("OUTBOUND_WEBHOOK_SECRET"):
        log.warning("OUTBOUND_WEBHOOK_URLS is set but OUTBOUND_WEBHOOK_SECRET is not: %s not sent", event)
        return 0
    now = utcnow()
    body = json.dumps(window_payload(event, window, details, now), default=str, separators=(",", ":"))
    message_id = f"msg_{uuid.uuid4().hex}"
    try:
        for url in urls:
            db.session.add(OutboundWebhook(
                message_id=message_id, url=url, event_type=event, payload=body,
                status="queued", attempts=0, not_before=now, created_at=now,
            ))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return len(urls)


def _hook(event: str) -> Callable[..., None]:
    def on_transition(window: Any, **details: Any) -> None:
        queue_outbound(event, window, **details)

    on_transition.__qualname__ = f"queue_outbound[{event}]"
    return on_transition


_OUTBOUND_HOOKS = {event: _hook(event) for event in OUTBOUND_EVENTS}


def register_hooks() -> None:
    """Queue outbound webhooks on every window transition (idempotent)."""
    for event, hook in _OUTBOUND_HOOKS.items():
        hooks.on(event, hook)


@dataclass
class OutboundReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    if not url.startswith(("https://", "http://")):
        raise ValueError("outbound webhook URLs must be http(s)")
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Pausa-Webhooks/1", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def deliver_outbound(
    now: datetime | None = None, limit: int = 20, should_stop: Callable[[], bool] | None = None,
) -> OutboundReport:
    """POST one batch of due outbound webhooks, signed; retries back off, then `failed`."""
    now = now or utcnow()
    config = current_app.config
    secret = config.get("OUTBOUND_WEBHOOK_SECRET")
    max_attempts = int(config["WEBHOOK_MAX_ATTEMPTS"])
    base = float(config["WEBHOOK_BACKOFF_SECONDS"])
    timeout = float(config["OUTBOUND_WEBHOOK_TIMEOUT_SECONDS"])
    report = OutboundReport()
    try:
        rows = claim(
            select(OutboundWebhook)
            .where(OutboundWebhook.status == "queued", OutboundWebhook.not_before <= now)
            .order_by(OutboundWebhook.id),
            limit,
        )
        for row in rows:
            if should_stop is not None and should_stop():
                break
            row.attempts += 1
            body = row.payload.encode()
            error: str | None = None
            status: int | None = None
            if not secret:
                error = "OUTBOUND_WEBHOOK_SECRET is not set"
            else:
                try:
                    headers = standard_headers(secret, row.message_id, int(time.time()), body)
                    status = _post(row.url, body, headers, timeout)
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
                except Exception as failure:  # network errors are retried
                    error = f"{type(failure).__name__}: {failure}"
            row.last_status = status
            if error is None:
                row.status = "sent"
                row.sent_at = utcnow()
                row.last_error = None
                report.sent += 1
            else:
                row.last_error = error[:2000]
                if row.attempts >= max_attempts:
                    row.status = "failed"
                    report.failed += 1
                else:
                    row.not_before = now + backoff(row.attempts, base)
                    report.retried += 1
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report
