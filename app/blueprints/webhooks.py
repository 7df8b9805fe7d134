"""Webhook receivers: always reachable, whatever maintenance says.

A verified event is committed to the inbox (app/services/webhooks.py) before
the 200: one INSERT ... ON CONFLICT DO NOTHING, nothing else in the request.
A known event answers 200 too (`duplicate: true`) and changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..extensions import csrf
from ..maintenance.signatures import SignatureError, verify_standard, verify_stripe
from ..services import webhooks as webhook_service

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# Senders sign their requests; they cannot carry a CSRF token.
csrf.exempt(bp)


def _bad(error: str, message: str) -> tuple[Response, int]:
    return jsonify(error=error, message=message), 400


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None


def _store(provider: str, event_id: str, event_type: Any, payload: bytes) -> tuple[Response, int]:
    created = webhook_service.ingest(
        provider, event_id, event_type if isinstance(event_type, str) else None, payload
    )
    return (jsonify(received=True) if created else jsonify(received=True, duplicate=True)), 200


@bp.post("/stripe")
def stripe() -> tuple[Response, int]:
    """Verify a Stripe event (`Stripe-Signature`) and store it in the inbox; its id is the body's `id`."""
    payload = request.get_data(cache=False)
    try:
        verify_stripe(
            request.headers.get("Stripe-Signature"),
            payload,
            current_app.config["STRIPE_WEBHOOK_SECRETS"],
            time.time(),
        )
    except SignatureError as error:
        return _bad("signature", str(error))
    body = _json(payload)
    if not isinstance(body, dict):
        return _bad("payload", "the body is not a JSON object")
    event_id = body.get("id")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        return _bad("payload", "the event has no string \"id\" (at most 255 characters)")
    return _store("stripe", event_id, body.get("type"), payload)


@bp.post("/standard")
def standard() -> tuple[Response, int]:
    """Verify a Standard Webhooks event (webhook-id/-timestamp/-signature) and store it in the inbox."""
    payload = request.get_data(cache=False)
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
    body = _json(payload)
    if body is None:
        return _bad("payload", "the body is not JSON")
    event_type = body.get("type") if isinstance(body, dict) else None
    return _store("standard", event_id, event_type, payload)
