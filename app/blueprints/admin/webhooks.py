"""Webhooks on the dashboard: replay a dead letter of the inbox; register and disable subscribers.

A subscriber's signing secret is shown once, right after it is registered (docs/webhook-subscribers.md).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask_babel import gettext

from ...maintenance.validation import ValidationError
from ...ratelimits import state_change_limit
from ...services import Conflict, ServiceError
from ...services import webhook_subscribers as subscriber_service
from ...services import webhooks as webhook_service
from ..auth import request_actor
from . import panels
from .dashboard import change, no_store, render_panel

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/<int:event_pk>/replay")
@state_change_limit
def replay(event_pk: int) -> Response:
    """Put a dead-lettered webhook event back in the inbox (audited `webhook.replayed`)."""

    def apply() -> None:
        if webhook_service.replay(event_pk, request_actor()) is None:
            raise Conflict(gettext("This event is not in the dead-letter queue."))

    return change(apply, gettext("The event is back in the inbox; the worker will process it."))


def _answer(card: dict, notice: str | None = None, status: int = 200) -> Response:
    # no_store: the card may hold a secret.
    return no_store(render_panel(status=status, notice=notice, webhook_subscribers=card))


@bp.post("/webhook-subscribers")
@state_change_limit
def register_subscriber() -> Response:
    """Register a URL and show its signing secret once."""
    body = {name: request.form.get(name, "") for name in subscriber_service.FIELDS}
    try:
        subscriber, secret = subscriber_service.register(body, request_actor())
    except ValidationError as exc:
        return _answer(panels.webhook_subscribers(errors=exc.fields, values=body), status=422)
    return _answer(
        panels.webhook_subscribers(new_secret=secret, new_id=subscriber.id),
        notice=gettext("Webhook subscriber registered. Copy its secret now: it is shown only once."),
    )


@bp.post("/webhook-subscribers/<int:subscriber_id>/disable")
@state_change_limit
def disable_subscriber(subscriber_id: int) -> Response:
    """Disable a subscriber: nothing more is sent to it."""
    try:
        subscriber_service.disable(subscriber_id, request_actor())
    except ServiceError as exc:
        card = panels.webhook_subscribers(errors={"form": exc.message})
        return _answer(card, status=exc.status if exc.status != 404 else 409)
    return _answer(
        panels.webhook_subscribers(),
        notice=gettext("Webhook subscriber disabled; nothing more is sent to it."),
    )
