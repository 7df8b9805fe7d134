"""Webhook receivers: always reachable, whatever maintenance says."""

from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, jsonify, request

from ..extensions import csrf
from ..maintenance.signatures import SignatureError, verify_stripe

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
# Senders sign their requests; they cannot carry a CSRF token.
csrf.exempt(bp)


@bp.post("/stripe")
def stripe() -> tuple[Response, int]:
    """Verify a Stripe event's signature and acknowledge it.

    Durable storage and processing of events arrive with the webhook inbox;
    until then a verified event is acknowledged and logged.
    """
    payload = request.get_data(cache=False)
    try:
        verify_stripe(
            request.headers.get("Stripe-Signature"),
            payload,
            current_app.config["STRIPE_WEBHOOK_SECRETS"],
            time.time(),
        )
    except SignatureError as error:
        return jsonify(error="signature", message=str(error)), 400
    current_app.logger.info("stripe webhook verified (%d bytes)", len(payload))
    return jsonify(received=True), 200
