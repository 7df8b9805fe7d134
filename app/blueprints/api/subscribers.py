"""The admin API's webhook subscribers: POST registers one (its secret is in the answer, once), GET lists
them (never a secret), DELETE disables one, POST .../rotate-secret gives it a new secret (once)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify

from ...ratelimits import state_change_limit
from ...services import webhook_subscribers as subscriber_service
from .common import bp, json_body


@bp.get("/webhook-subscribers")
def webhook_subscribers() -> Response:
    rows = subscriber_service.list_subscribers()
    return jsonify(subscribers=[subscriber_service.subscriber_json(row) for row in rows])


def _with_secret(subscriber: Any, secret: str, status: int) -> Response:
    response = jsonify(subscriber=subscriber_service.subscriber_json(subscriber), secret=secret)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # the secret is in it
    return response


@bp.post("/webhook-subscribers")
@state_change_limit
def webhook_subscriber_register() -> Response:
    """Body: {"url": "https://...", "name": "optional"}; the answer holds the secret, once."""
    subscriber, secret = subscriber_service.register(json_body(), g.actor)
    return _with_secret(subscriber, secret, 201)


@bp.delete("/webhook-subscribers/<int:subscriber_id>")
@state_change_limit
def webhook_subscriber_disable(subscriber_id: int) -> Response:
    subscriber = subscriber_service.disable(subscriber_id, g.actor)
    return jsonify(subscriber=subscriber_service.subscriber_json(subscriber))


@bp.post("/webhook-subscribers/<int:subscriber_id>/rotate-secret")
@state_change_limit
def webhook_subscriber_rotate(subscriber_id: int) -> Response:
    subscriber, secret = subscriber_service.rotate_secret(subscriber_id, g.actor)
    return _with_secret(subscriber, secret, 200)
