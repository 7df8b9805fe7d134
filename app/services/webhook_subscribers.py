"""Webhook subscribers: URLs an admin registers to receive the window notices, signed.

Use cases (each audited in its own transaction): register (the secret is made here and
returned once), list, disable (the secret is erased and queued notices are dropped) and
rotate the secret (the new one is returned once). The secret never appears in a listing,
an answer other than the one that made it, or the audit trail.

Notices: `queue_notice` at the bottom queues one delivery per active subscriber in the
existing outbound queue (`OutboundWebhook`), in the transaction of the window's change (it is
called by app/services/subscriptions/notices.py next to the email notices), which the worker POSTs
with the same retries and back-off as OUTBOUND_WEBHOOK_URLS, signed with the subscriber's own
secret (app/services/webhook_outbound.py). The kinds are those the email subscribers get: scheduled,
reminder, started, changed, ended and cancelled. A unique (subscriber, window, notice)
makes each at most once however many times it is queued. See docs/webhook-subscribers.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import uuid
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import gettext
from pausa_gate.state import Actor
from sqlalchemy import select, update

from ..extensions import db
from ..maintenance.validation import ValidationError
from ..maintenance.webhook_targets import NAME_MAX, URL_MAX, default_name, name_problem, url_problem
from ..models import OutboundWebhook, WebhookSubscriber, utcnow
from . import NotFound, audit
from .webhook_outbound import dialect_insert, window_payload

log = logging.getLogger("pausa.webhook_subscribers")

PUBLIC_TIMES = ("starts_at", "eta", "ends_at")
SECRET_BYTES = 32
FIELDS = ("url", "name")


def new_secret() -> str:
    """Make a Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def allow_local_http() -> bool:
    """Plain http to this machine is for development and tests only."""
    return current_app.config["ENVIRONMENT"] in ("development", "test")


def _problem_text(field: str, code: str) -> str:
    texts = {
        "required": gettext("Give the URL that receives the notices."),
        "too_long": (
            gettext("At most %(count)s characters.", count=URL_MAX if field == "url" else NAME_MAX)
        ),
        "invalid": (
            gettext("This is not a valid URL.") if field == "url"
            else gettext("Use plain text, without control characters.")
        ),
        "scheme": gettext("The URL must start with https://."),
        "local_http_only": gettext("Plain http:// is allowed only for localhost and 127.0.0.1."),
        "credentials": gettext(
            "Leave user names and passwords out of the URL; the signature proves who sends."
        ),
        "fragment": gettext("Remove the #fragment: it is never sent to the server."),
    }
    return texts.get(code, gettext("This is not valid."))


def check_registration(body: dict[str, Any]) -> tuple[str, str]:
    """Return the (url, name) to register, or raise ValidationError naming every bad field."""
    fields = {name: gettext("Unknown field.") for name in body if name not in FIELDS}
    url, name = body.get("url"), body.get("name")
    if (code := url_problem(url, allow_local_http())) is not None:
        fields["url"] = _problem_text("url", code)
    if (code := name_problem(name)) is not None:
        fields["name"] = _problem_text("name", code)
    if "url" not in fields:
        url = url.strip()
        taken = db.session.scalar(
            select(WebhookSubscriber.id).where(
                WebhookSubscriber.url == url, WebhookSubscriber.disabled_at.is_(None)
            )
        )
        if taken is not None:
            fields["url"] = gettext("This URL is already registered (subscriber %(id)s).", id=taken)
    if fields:
        db.session.rollback()
        raise ValidationError(fields)
    return url, (name or "").strip() or default_name(url)


def subscriber_json(subscriber: WebhookSubscriber) -> dict[str, Any]:
    """Describe a subscriber for admins: everything but its secret."""

    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": subscriber.id,
        "name": subscriber.name,
        "url": subscriber.url,
        "active": subscriber.active,
        "created_by": subscriber.created_by,
        "created_at": moment(subscriber.created_at),
        "secret_rotated_at": moment(subscriber.secret_rotated_at),
        "disabled_by": subscriber.disabled_by,
        "disabled_at": moment(subscriber.disabled_at),
        "last_attempt_at": moment(subscriber.last_attempt_at),
        "last_status": subscriber.last_status,
        "last_error": subscriber.last_error,
    }


def register(body: dict[str, Any], actor: Actor) -> tuple[WebhookSubscriber, str]:
    """Register a URL; return the subscriber and its secret, which is never shown again."""
    url, name = check_registration(body)
    secret = new_secret()
    subscriber = WebhookSubscriber(
        name=name, url=url, secret=secret, created_by=actor.name, created_at=utcnow()
    )
    db.session.add(subscriber)
    db.session.flush()
    audit.record("webhook_subscriber.registered", actor, f"webhook_subscriber:{subscriber.id}",
                 {"name": name, "url": url})
    db.session.commit()
    return subscriber, secret


def list_subscribers(include_disabled: bool = True) -> list[WebhookSubscriber]:
    """Return the subscribers, active ones first, newest first."""
    query = select(WebhookSubscriber)
    if not include_disabled:
        query = query.where(WebhookSubscriber.disabled_at.is_(None))
    rows = db.session.scalars(query.order_by(WebhookSubscriber.id.desc()))
    return sorted(rows, key=lambda row: not row.active)


def _active_or_404(subscriber_id: int) -> WebhookSubscriber:
    subscriber = db.session.get(WebhookSubscriber, subscriber_id, with_for_update=True)
    if subscriber is None or not subscriber.active:
        db.session.rollback()
        raise NotFound(gettext("There is no active webhook subscriber %(id)s.", id=subscriber_id))
    return subscriber


def disable(subscriber_id: int, actor: Actor) -> WebhookSubscriber:
    """Stop sending to a subscriber at once: erase its secret and drop what is queued for it."""
    subscriber = _active_or_404(subscriber_id)
    now = utcnow()
    subscriber.disabled_at = now
    subscriber.disabled_by = actor.name
    subscriber.secret = ""  # nothing can be signed for it any more
    dropped = db.session.execute(
        update(OutboundWebhook)
        .where(OutboundWebhook.subscriber_id == subscriber.id, OutboundWebhook.status == "queued")
        .values(status="cancelled", last_error="subscriber disabled")
        .execution_options(synchronize_session=False)
    ).rowcount
    audit.record("webhook_subscriber.disabled", actor, f"webhook_subscriber:{subscriber.id}",
                 {"name": subscriber.name, "url": subscriber.url, "queued_dropped": dropped})
    db.session.commit()
    return subscriber


def rotate_secret(subscriber_id: int, actor: Actor) -> tuple[WebhookSubscriber, str]:
    """Give a subscriber a new secret (returned once); every later attempt is signed with it."""
    subscriber = _active_or_404(subscriber_id)
    secret = new_secret()
    subscriber.secret = secret
    subscriber.secret_rotated_at = utcnow()
    audit.record("webhook_subscriber.secret_rotated", actor, f"webhook_subscriber:{subscriber.id}",
                 {"name": subscriber.name})
    db.session.commit()
    return subscriber, secret


# -- notices ----------------------------------------------------------------------------------


def notice_key(kind: str, window: Any, now: datetime) -> str:
    """The at-most-once key of a notice: its kind; for `changed`, the change itself.

    A window's times may change several times and each change is news; the same change
    queued twice (in one transaction) is not. The key of a change is a digest of the public
    times and the moment of the change.
    """
    if kind != "changed":
        return kind
    parts = [getattr(window, name, None) for name in PUBLIC_TIMES] + [now.isoformat()]
    digest = hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()
    return f"changed:{digest[:16]}"


def queue_notice(kind: str, window: Any, now: datetime, **details: Any) -> int:
    """Queue notice `kind` of `window` for every active subscriber, once each; the caller commits.

    Called by app/services/subscriptions/notices.py in the transaction that changes the window, next to
    the email notices, so a change that commits has its notices and a rolled-back one has none.
    """
    window_id = getattr(window, "id", None)
    if window_id is None:
        return 0
    subscribers = db.session.execute(
        select(WebhookSubscriber.id, WebhookSubscriber.url).where(WebhookSubscriber.disabled_at.is_(None))
    ).all()
    if not subscribers:
        return 0
    payload = window_payload(f"window.{kind}", window, details, now)
    payload["data"]["notice"] = kind
    body = json.dumps(payload, default=str, separators=(",", ":"))
    key = notice_key(kind, window, now)
    queued = 0
    for subscriber_id, url in subscribers:
        statement = dialect_insert(OutboundWebhook).values(
            message_id=f"msg_{uuid.uuid4().hex}", url=url,
            event_type=f"window.{kind}", payload=body, status="queued", attempts=0,
            not_before=now, created_at=now,
            subscriber_id=subscriber_id, window_id=window_id, notice=key,
        ).on_conflict_do_nothing(index_elements=["subscriber_id", "window_id", "notice"])
        queued += db.session.execute(statement).rowcount or 0
    return queued
