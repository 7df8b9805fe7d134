"""Machines keep working during maintenance: webhooks and health checks."""

from __future__ import annotations

import json
import time

import pytest

from app.maintenance.signatures import stripe_signature

SECRET = "whsec_test_primary"
ROTATED = "whsec_test_rotated"


def stripe_headers(body: bytes, secret: str = SECRET, at: int | None = None) -> dict:
    timestamp = int(time.time()) if at is None else at
    return {
        "Stripe-Signature": f"t={timestamp},v1={stripe_signature(secret, timestamp, body)}",
        "Content-Type": "application/json",
    }


@pytest.fixture
def event_body():
    return json.dumps({"id": "evt_1", "type": "payment_intent.succeeded"}).encode()


@pytest.mark.parametrize("secret", [SECRET, ROTATED])
def test_stripe_accepted_during_full_maintenance(client, activate, event_body, secret):
    activate()
    response = client.post("/webhooks/stripe", data=event_body, headers=stripe_headers(event_body, secret))
    assert response.status_code == 200
    assert response.json == {"received": True}
    assert "X-Maintenance" not in response.headers


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing"),
        ({"Stripe-Signature": "t=1,v1=deadbeef"}, "tolerance"),
        ({"Stripe-Signature": "garbage"}, "timestamp"),
    ],
)
def test_stripe_bad_signatures_are_400(client, event_body, headers, reason):
    response = client.post("/webhooks/stripe", data=event_body, headers=headers)
    assert response.status_code == 400
    assert reason in response.json["message"]


def test_stripe_wrong_secret_and_stale_timestamp(client, event_body):
    wrong = client.post("/webhooks/stripe", data=event_body, headers=stripe_headers(event_body, "whsec_other"))
    assert wrong.status_code == 400
    stale = client.post(
        "/webhooks/stripe", data=event_body, headers=stripe_headers(event_body, at=int(time.time()) - 301)
    )
    assert stale.status_code == 400
    tampered = stripe_headers(event_body)
    assert client.post("/webhooks/stripe", data=event_body + b" ", headers=tampered).status_code == 400


def test_stripe_body_over_one_mebibyte_is_413(client):
    body = b"x" * (1024 * 1024 + 1)
    response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert response.status_code == 413


def test_health_during_maintenance(client, activate):
    activate()
    live = client.get("/health/live")
    assert live.status_code == 200 and live.json == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json["checks"]["database"]["ok"] is True
    assert ready.json["checks"]["maintenance_state"]["version"] == 2


def test_ready_reports_unreachable_database_and_gate_keeps_last_state(tmp_path):
    """With the database gone, the gate keeps enforcing the last state it knew."""
    from pausa_gate.state import Actor
    from pausa_gate.windows import utcnow
    from sqlalchemy import create_engine

    from app.extensions import db
    from app.maintenance.validation import validate_window
    from app.services import maintenance as maintenance_service
    from tests.support.apps import make_app

    app = make_app(tmp_path / "gone")
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "kept"}, utcnow()), Actor("t"))
    client = app.test_client()
    assert client.get("/").status_code == 503
    with app.app_context():
        db.engine.dispose()
        # Swap in an engine whose database cannot be opened (a real failure, not a mock).
        db._app_engines[app][None] = create_engine("sqlite:////nonexistent/dir/pausa.db")
    blocked = client.get("/")
    assert blocked.status_code == 503
    assert "kept" in blocked.get_data(as_text=True)
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"]["ok"] is False
    assert ready.json["checks"]["maintenance_state"]["ok"] is False
    assert "OperationalError" in ready.json["checks"]["maintenance_state"]["error"]
    page = client.get("/admin/audit")
    assert page.status_code in (302, 503)
    assert "Traceback" not in page.get_data(as_text=True)
