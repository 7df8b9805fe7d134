"""Webhook receivers: always reachable, whatever maintenance says.

A verified event is committed to the inbox (app/services/webhooks.py) before
the 200: one INSERT ... ON CONFLICT DO NOTHING, nothing else in the request.
A known event answers 200 too (`duplicate: true`) and changes nothing.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..extensions import csrf
from ..inputs import read_body
from ..maintenance.signatures import SignatureError, verify_standard, verify_stripe
from ..maintenance.validation import BodyError, has_unstorable_text, parse_json
from ..services import webhooks as webhook_service

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# Senders sign their requests; they cannot carry a CSRF token.
csrf.exempt(bp)


def _bad(error: str, message: str) -> tuple[Response, int]:
    return jsonify(error=error, message=message), 400


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
    payload = read_body()
    try:
        verify_stripe(
            request.headers.get("Stripe-Signature"),
            payload,
            current_app.config["STRIPE_WEBHOOK_SECRETS"],
            time.time(),
        )
    except SignatureError as error:
        return _bad("signature", str(error))
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
        return _bad("signature", str(error))
    assert event_id is not None  # verify_standard checked it
    if len(event_id) > 255:
        return _bad("payload", "webhook-id is longer than 255 characters")
    try:
        body = parse_json(payload)  # as the worker will parse it: UTF-8 JSON
    except BodyError as error:
        return _bad("payload", str(error))
    event_type = body.get("type") if isinstance(body, dict) else None
    return _unstorable(event_id, event_type) or _store("standard", event_id, event_type, payload)
