"""Webhook receivers: always reachable, whatever maintenance says.

A verified event is committed to the inbox (app/services/webhook_inbox.py) before
the 200: one INSERT ... ON CONFLICT DO NOTHING, nothing else in the request.
A known event answers 200 too (`duplicate: true`) and changes nothing.
A receiver without secrets answers 503 `not_configured` (the sender keeps
retrying, so nothing is lost once it is configured). Every refusal is counted
by provider and reason (/metrics, the dashboard) and logged sparingly
(app/services/webhook_rejections.py).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from ..extensions import METRICS_KEY, csrf
from ..inputs import read_body
from ..maintenance.signatures import SignatureError, verify_standard, verify_stripe
from ..maintenance.validation import BodyError, has_unstorable_text, parse_json
from ..services import webhook_rejections
from ..services import webhooks as webhook_service

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# Senders sign their requests; they cannot carry a CSRF token.
csrf.exempt(bp)


# Refusals raised outside our code (a body over MAX_CONTENT_LENGTH, a bad request); a 5xx is our
# failure (e.g. the database), not the sender's, and is not counted as a rejection.
DEFAULT_REASONS = {400: "malformed", 413: "too_large"}


def _bad(error: str, message: str, rejected: SignatureError | None = None) -> tuple[Response, int]:
    if rejected is not None:  # the signature check knows why; other 400s are malformed requests
        g.webhook_rejection = (rejected.reason, rejected.skew)
    return jsonify(error=error, message=message), 400


def _not_configured(provider: str) -> tuple[Response, int] | None:
    """Refuse loudly when this receiver has no secret, rather than reject every event as badly signed."""
    if current_app.config.get(webhook_service.SECRETS[provider]):
        return None
    message = f"this site has no {webhook_service.SECRETS[provider]}: {provider} webhooks are not configured"
    g.webhook_rejection = ("not_configured", None)
    return jsonify(error="not_configured", message=message), 503


@bp.after_request
def _count_rejection(response: Response) -> Response:
    """Count and (sparingly) log every refused webhook request: a skewed clock must not go unseen."""
    reason, skew = g.get("webhook_rejection") or (DEFAULT_REASONS.get(response.status_code), None)
    if reason is None or not request.endpoint:
        return response
    provider = request.endpoint.rpartition(".")[2]
    reason = webhook_rejections.reason_of(reason)
    metrics = current_app.extensions.get(METRICS_KEY)
    if metrics is not None:
        metrics.count_webhook_rejection(provider, reason)
    detail = (response.get_json(silent=True) or {}).get("message") or response.status
    webhook_rejections.record(webhook_rejections.tracker(), provider, reason, skew, str(detail)[:200])
    return response


def _unstorable(event_id: str, event_type: Any) -> tuple[Response, int] | None:
    """Refuse, with a 400 the sender will not retry, an id or type the database cannot store."""
    if has_unstorable_text(event_id):
        return _bad("payload", "the event id contains a NUL byte or invalid Unicode")
    if has_unstorable_text(event_type):
        return _bad("payload", "the event type contains a NUL byte or invalid Unicode")
    return None


def _store(provider: str, event_id: str, event_type: Any, payload: bytes) -> tuple[Response, int]:
    created = webhook_service.ingest(
        provider, event_id, event_type if isinstance(event_type, str) else None, payload
    )
    return (jsonify(received=True) if created else jsonify(received=True, duplicate=True)), 200


@bp.post("/stripe")
def stripe() -> tuple[Response, int]:
    """Verify a Stripe event (`Stripe-Signature`) and store it in the inbox; its id is the body's `id`."""
    refused = _not_configured("stripe")
    if refused:
        return refused
    payload = read_body()
    try:
        verify_stripe(
            request.headers.get("Stripe-Signature"),
            payload,
            current_app.config["STRIPE_WEBHOOK_SECRETS"],
            time.time(),
        )
    except SignatureError as error:
        return _bad("signature", str(error), error)
    try:
        body = parse_json(payload)  # as the worker will parse it: UTF-8 JSON
    except BodyError as error:
        return _bad("payload", str(error))
    if not isinstance(body, dict):
        return _bad("payload", "the body is not a JSON object")
    event_id = body.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        return _bad("payload", "the event has no string \"id\" (at most 255 characters)")
    return _unstorable(event_id, body.get("type")) or _store("stripe", event_id, body.get("type"), payload)


@bp.post("/standard")
def standard() -> tuple[Response, int]:
    """Verify a Standard Webhooks event (webhook-id/-timestamp/-signature) and store it in the inbox."""
    refused = _not_configured("standard")
    if refused:
        return refused
    payload = read_body()
    event_id = request.headers.get("webhook-id")
    try:
        verify_standard(
            event_id,
            request.headers.get("webhook-timestamp"),
            request.headers.get("webhook-signature"),
            payload,
            current_app.config["STANDARD_WEBHOOK_SECRETS"],
            time.time(),
        )
    except SignatureError as error:
        return _bad("signature", str(error), error)
    assert event_id is not None  # verify_standard checked it
    if len(event_id) > 255:
        return _bad("payload", "webhook-id is longer than 255 characters")
    try:
        body = parse_json(payload)  # as the worker will parse it: UTF-8 JSON
    except BodyError as error:
        return _bad("payload", str(error))
    event_type = body.get("type") if isinstance(body, dict) else None
    return _unstorable(event_id, event_type) or _store("standard", event_id, event_type, payload)
