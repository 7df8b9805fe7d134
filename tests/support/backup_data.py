"""Fill a migrated database with rows in every backed-up table, through the CLI and the services."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import stripe
from pausa_gate.state import Actor
from sqlalchemy import select

from app.extensions import WEBHOOK_REJECTIONS_KEY, db

PASSWORD = "correct horse battery"
STRIPE_SECRET = "whsec_test_primary"


def _invoke(app: Any, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, (args, result.output)
    return result.output


def _stripe(client: Any, event_id: str, secret: str = STRIPE_SECRET) -> int:
    body = json.dumps({"id": event_id, "type": "payment_intent.succeeded",
                       "data": {"object": {"amount": 2000, "currency": "usd"}}})
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=int(time.time()))
    response = client.post("/webhooks/stripe", data=body,
                           headers={"Stripe-Signature": header, "Content-Type": "application/json"})
    return response.status_code


def populate(app: Any) -> None:
    """Make rows in every table but the transient ones, the way a running Pausa makes them."""
    from app.models import StandingSubscriber
    from app.services import alerts as alert_service
    from app.services import notifications as notification_service
    from app.services import subscriptions as subscription_service
    from app.services import webhook_rejections
    from app.services import webhooks as webhook_service

    client = app.test_client()
    _invoke(app, "users", "create", "admin@example.com", "--role", "admin", "--password", PASSWORD)
    _invoke(app, "users", "create", "ana@example.com", "--role", "developer", "--password", PASSWORD)
    login = client.get("/auth/login").get_data(as_text=True)
    token = login.split('name="csrf_token" value="')[1].split('"')[0]
    signed_in = client.post("/auth/login", data={"email": "admin@example.com", "password": PASSWORD,
                                                 "csrf_token": token})
    assert signed_in.status_code == 302
    _invoke(app, "tokens", "create", "deploy")
    _invoke(app, "webhooks", "add", "https://hooks.example.com/pausa", "--name", "Status relay")
    with app.app_context():
        subscription_service.subscribe_standing("reader@example.com", "pt-BR")
        reader = db.session.scalar(select(StandingSubscriber.id))
        subscription_service.confirm_standing(subscription_service.confirm_token(reader))
    _invoke(app, "recurrences", "create", "--frequency", "weekly", "--weekday", "SU", "--start", "02:00",
            "--end", "04:00", "--time-zone", "America/Sao_Paulo", "--message", "Backups do domingo ✓")
    _invoke(app, "maintenance", "on", "--message", "Deploying v2", "--message-in", "pt-BR", "Implantando a v2",
            "--reason", "deployment", "--eta", "30m", "--allow-ip", "10.0.0.0/8")
    _invoke(app, "maintenance", "bypass-link")
    with app.app_context():
        window_id = int(db.session.execute(select(db.metadata.tables["maintenance_windows"].c.id)
                                           .where(db.metadata.tables["maintenance_windows"].c.status == "active"))
                        .scalar_one())
        subscription_service.subscribe(window_id, "bo@example.com", "en")
    _invoke(app, "maintenance", "off")
    assert client.post("/api/v1/items", json={"name": "a demo item"}).status_code == 201
    assert _stripe(client, "evt_1") == 200
    assert _stripe(client, "evt_2", secret="whsec_wrong") == 400
    with app.app_context():
        webhook_service.process_inbox()
        webhook_rejections.flush(app.extensions[WEBHOOK_REJECTIONS_KEY])
        # The "we're back" email is due a minute after the end: sending it makes the breaker's row.
        notification_service.send_due_deliveries(now=datetime.now(UTC) + timedelta(minutes=5))
        alert_service.raise_alert("test:backup", "overdue", "A test alert ✓")
        from app.services import audit

        audit.record("test.binary", Actor("cli:test"), None, {"nested": {"b": [1, 2.5, None, True]}, "a": "ü"})
        db.session.commit()
