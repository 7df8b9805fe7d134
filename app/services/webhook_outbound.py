"""Outbound webhooks: window transitions queued and POSTed, signed, with retries.

Every window transition is queued (`OutboundWebhook`, one row per
OUTBOUND_WEBHOOK_URLS entry) by hook handlers, and POSTed by the worker signed
with the Standard Webhooks scheme (OUTBOUND_WEBHOOK_SECRET), with retries. The
notices of admin-registered webhook subscribers share the queue, each signed
with its subscriber's secret (app/services/webhook_subscribers.py).
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import hooks
from ..extensions import db
from ..maintenance.signatures import standard_headers
from ..models import OutboundWebhook, WebhookSubscriber, utcnow
from .claims import claim

log = logging.getLogger("pausa.webhooks")


def dialect_insert(model: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING, for the database in use (the inbox's too)."""
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(model)
    if dialect == "sqlite":
        return sqlite.insert(model)
    raise RuntimeError(f"webhooks do not support the {dialect} dialect")  # pragma: no cover


def backoff(attempts: int, base: float) -> timedelta:
    """Delay after `attempts` failed attempts (inbox and outbound alike): base, 2·base, 4·base…"""
    return timedelta(seconds=base * (2 ** max(attempts - 1, 0)))


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
    cancelled: int = 0  # queued for a webhook subscriber disabled since


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a receiver could otherwise send the signed POST (as a GET) anywhere,
    an internal address included, past the https-only rule its URL was checked against."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST once and return the status; a redirect is an answer (a 3xx), never followed."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("outbound webhook URLs must be http(s)")
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Pausa-Webhooks/1", **headers},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
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
            # A webhook subscriber's notice is signed with its own secret (services/webhook_subscribers.py).
            subscriber = db.session.get(WebhookSubscriber, row.subscriber_id) if row.subscriber_id else None
            if row.subscriber_id and (subscriber is None or not subscriber.active):
                row.status = "cancelled"  # disabled after it was queued: it gets nothing more
                row.last_error = "subscriber disabled"
                report.cancelled += 1
                continue
            row.attempts += 1
            body = row.payload.encode()
            error: str | None = None
            status: int | None = None
            signing_secret = subscriber.secret if subscriber is not None else secret
            if not signing_secret:
                error = "OUTBOUND_WEBHOOK_SECRET is not set"
            else:
                try:
                    headers = standard_headers(signing_secret, row.message_id, int(time.time()), body)
                    status = _post(row.url, body, headers, timeout)
                    if not 200 <= status < 300:
                        error = f"HTTP {status}"
                except Exception as failure:  # network errors are retried
                    error = f"{type(failure).__name__}: {failure}"
            row.last_status = status
            if subscriber is not None:
                subscriber.last_attempt_at = utcnow()
                subscriber.last_status = status
                subscriber.last_error = error and error[:2000]
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


def outbound_queued_count() -> int:
    return db.session.scalar(select(func.count()).where(OutboundWebhook.status == "queued")) or 0
