"""Webhooks (issue 6): the inbox, its worker, the dashboard and outbound deliveries (SQLite).

Requests are signed as real senders sign them, with the official libraries:
`standardwebhooks` (Webhook.sign) and `stripe` (WebhookSignature.generate_signature_header).
PostgreSQL concurrency is in tests/servers/test_webhooks_postgres.py.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import stripe
from pausa_gate.state import Actor
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.extensions import db
from app.maintenance.signatures import SignatureError, standard_headers, verify_standard
from app.models import AdminAlert, AuditEntry, OutboundWebhook, PaymentEvent, WebhookEvent, utcnow
from app.services import maintenance as maintenance_service
from app.services import webhooks as webhook_service
from tests.support.fake_http import FakeHTTPServer

STRIPE_SECRET = "whsec_test_primary"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
STANDARD_ROTATED = "whsec_cm90YXRlZC1zdGFuZGFyZC1rZXk="
OUTBOUND_SECRET = "whsec_" + base64.b64encode(b"outbound-signing-key-0123456789").decode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> dict:
    """Sign as Stripe does, with the official `stripe` library's own helper."""
    timestamp = int(time.time()) if at is None else at
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"Stripe-Signature": header, "Content-Type": "application/json"}


def stripe_event(event_id: str = "evt_1", amount: int = 2000) -> bytes:
    return json.dumps({
        "id": event_id, "type": "payment_intent.succeeded",
        "data": {"object": {"amount": amount, "currency": "usd"}},
    }).encode()


def standard_request(body: bytes, msg_id: str = "msg_1", secret: str = STANDARD_SECRET,
                     at: datetime | None = None) -> dict:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature, "Content-Type": "application/json"}


def events(app) -> list[WebhookEvent]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))
        db.session.expunge_all()
        return rows


def process(app, now=None):
    with app.app_context():
        return webhook_service.process_inbox(now=now)


# -- the pure core: Standard Webhooks, cross-checked with the official library ------------------


def test_our_standard_signature_verifies_with_the_official_library():
    body = b'{"type":"x"}'
    headers = standard_headers(STANDARD_SECRET, "msg_a", int(time.time()), body)
    assert Webhook(STANDARD_SECRET).verify(body, headers) == {"type": "x"}
    with pytest.raises(WebhookVerificationError):
        Webhook(STANDARD_ROTATED).verify(body, headers)


def test_library_signatures_verify_in_the_core_and_tampering_fails():
    body = b'{"a":1}'
    now = datetime.now(UTC)
    sig = Webhook(STANDARD_SECRET).sign("msg_b", now, body.decode())
    stamp = str(int(now.timestamp()))
    assert verify_standard("msg_b", stamp, sig, body, [STANDARD_SECRET], time.time()) == int(stamp)
    # several space-separated signatures: an unknown version and a wrong one do not hurt
    assert verify_standard("msg_b", stamp, f"v2,abc v1,AAAA {sig}", body, [STANDARD_SECRET], time.time())
    # rotation: any configured secret
    assert verify_standard("msg_b", stamp, sig, body, [STANDARD_ROTATED, STANDARD_SECRET], time.time())
    for args, reason in [
        (("msg_b", stamp, sig, b'{"a":2}'), "no signature matches"),
        (("msg_c", stamp, sig, body), "no signature matches"),
        (("msg_b", str(int(stamp) + 1), sig, body), "no signature matches"),
        ((None, stamp, sig, body), "missing webhook-id"),
        (("msg_b", None, sig, body), "missing webhook-timestamp"),
        (("msg_b", stamp, None, body), "missing webhook-signature"),
        (("msg_b", "soon", sig, body), "not an integer"),
        (("msg_b", stamp, "v2,xyz", body), "no v1 signature"),
    ]:
        with pytest.raises(SignatureError, match=reason):
            verify_standard(*args, [STANDARD_SECRET], time.time())
    with pytest.raises(SignatureError, match="tolerance"):
        verify_standard("msg_b", stamp, sig, body, [STANDARD_SECRET], time.time() + 301)
    with pytest.raises(SignatureError, match="no signing secret"):
        verify_standard("msg_b", stamp, sig, body, [], time.time())


# -- ingest ----------------------------------------------------------------------------------


def test_stripe_event_is_in_the_inbox_before_the_200_and_duplicates_change_nothing(app, client):
    body = stripe_event("evt_dup")
    first = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert first.status_code == 200 and first.json == {"received": True}
    [stored] = events(app)
    assert (stored.provider, stored.event_id, stored.event_type, stored.status) == (
        "stripe", "evt_dup", "payment_intent.succeeded", "pending")
    assert stored.payload == body.decode()
    again = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert again.status_code == 200 and again.json == {"received": True, "duplicate": True}
    [same] = events(app)
    assert (same.id, same.received_at, same.payload) == (stored.id, stored.received_at, stored.payload)


@pytest.mark.parametrize(
    ("make_headers", "reason"),
    [
        (lambda body: {}, "missing Stripe-Signature"),
        (lambda body: stripe_headers(body, secret="whsec_wrong"), "no signature matches"),
        (lambda body: stripe_headers(body, at=int(time.time()) - 301), "tolerance"),
    ],
)
def test_stripe_bad_signature_or_stale_is_400_with_a_reason_and_stores_nothing(app, client, make_headers,
                                                                              reason):
    body = stripe_event()
    response = client.post("/webhooks/stripe", data=body, headers=make_headers(body))
    assert response.status_code == 400
    assert response.json["error"] == "signature" and reason in response.json["message"]
    assert events(app) == []


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"type": "x"}', b'{"id": 5}'])
def test_stripe_signed_but_unusable_body_is_400(app, client, body):
    response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert response.status_code == 400 and response.json["error"] == "payload"
    assert events(app) == []


def test_body_over_one_mebibyte_is_413(app, client):
    body = json.dumps({"id": "evt_big", "pad": "x" * (1024 * 1024)}).encode()
    response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert response.status_code == 413
    assert events(app) == []


def test_standard_event_signed_by_the_official_library_is_stored(app, client):
    body = json.dumps({"type": "invoice.paid", "timestamp": "2026-11-23T00:00:00Z",
                       "data": {"amount": 500, "currency": "eur"}}).encode()
    response = client.post("/webhooks/standard", data=body, headers=standard_request(body, "msg_std"))
    assert response.status_code == 200 and response.json == {"received": True}
    rotated = client.post("/webhooks/standard", data=body,
                          headers=standard_request(body, "msg_rot", secret=STANDARD_ROTATED))
    assert rotated.status_code == 200
    duplicate = client.post("/webhooks/standard", data=body, headers=standard_request(body, "msg_std"))
    assert duplicate.json == {"received": True, "duplicate": True}
    assert [(e.provider, e.event_id, e.event_type) for e in events(app)] == [
        ("standard", "msg_std", "invoice.paid"), ("standard", "msg_rot", "invoice.paid")]


def test_standard_bad_or_stale_signature_is_400(app, client):
    body = b'{"type": "x"}'
    stale = standard_request(body, at=datetime.now(UTC) - timedelta(minutes=6))
    response = client.post("/webhooks/standard", data=body, headers=stale)
    assert response.status_code == 400 and "tolerance" in response.json["message"]
    forged = standard_request(body, secret="whsec_" + base64.b64encode(b"attacker").decode())
    response = client.post("/webhooks/standard", data=body, headers=forged)
    assert response.status_code == 400 and response.json["message"] == "no signature matches"
    response = client.post("/webhooks/standard", data=body, headers={"webhook-id": "m"})
    assert response.status_code == 400 and "webhook-timestamp" in response.json["message"]
    assert events(app) == []


def test_full_maintenance_with_paused_processing_keeps_answering_200(app, client, activate):
    activate(mode="full", pause_webhook_processing=True)
    for n in range(5):
        body = stripe_event(f"evt_m{n}")
        response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
        assert response.status_code == 200, response.data
    body = b'{"type": "y"}'
    assert client.post("/webhooks/standard", data=body, headers=standard_request(body)).status_code == 200
    assert len(events(app)) == 6


# -- processing ------------------------------------------------------------------------------


def test_worker_processes_in_arrival_order_through_the_handlers(app, client, monkeypatch):
    seen: list[str] = []
    original = webhook_service.HANDLERS["stripe"]

    def spy(event, body):
        seen.append(event.event_id)
        original(event, body)

    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", spy)
    for n in (3, 1, 2):
        body = stripe_event(f"evt_{n}", amount=n * 100)
        client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    report = process(app)
    assert (report.processed, report.retried, report.dead) == (3, 0, 0)
    assert seen == ["evt_3", "evt_1", "evt_2"]
    assert process(app).handled == 0  # exactly once
    with app.app_context():
        payments = db.session.execute(
            select(PaymentEvent.event_id, PaymentEvent.amount, PaymentEvent.currency).order_by(PaymentEvent.id)
        ).all()
    assert payments == [("evt_3", 300, "usd"), ("evt_1", 100, "usd"), ("evt_2", 200, "usd")]
    assert {e.status for e in events(app)} == {"processed"}


def test_failures_back_off_exponentially_then_dead_letter_with_an_alert(app, client, monkeypatch):
    app.config.update(WEBHOOK_MAX_ATTEMPTS=3, WEBHOOK_BACKOFF_SECONDS=10)

    def broken(event, body):
        db.session.add(PaymentEvent(provider="stripe", event_id="partial"))  # rolled back with the failure
        raise RuntimeError("ledger unavailable")

    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", broken)
    body = stripe_event("evt_bad")
    client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    start = utcnow()
    assert process(app, start).retried == 1
    [event] = events(app)
    assert (event.attempts, event.not_before - start) == (1, timedelta(seconds=10))
    assert process(app, start + timedelta(seconds=9)).handled == 0  # not due yet
    assert process(app, start + timedelta(seconds=10)).retried == 1
    [event] = events(app)
    assert (event.attempts, event.not_before - (start + timedelta(seconds=10))) == (2, timedelta(seconds=20))
    report = process(app, start + timedelta(seconds=30))
    assert report.dead == 1
    [event] = events(app)
    assert (event.status, event.attempts) == ("dead", 3)
    assert "RuntimeError: ledger unavailable" in event.last_error
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 0
        alert = db.session.scalar(select(AdminAlert))
        assert alert.cause == "dead_letter:stripe:evt_bad" and alert.kind == "dead_letter"
        # replay puts it back, audited; a fixed handler then processes it
        assert webhook_service.replay(event.id, Actor("admin@example.com")).status == "pending"
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.replayed"))
        assert entry.target == f"webhook:{event.id}" and entry.details["event_id"] == "evt_bad"
        assert webhook_service.replay(event.id, Actor("admin@example.com")) is None  # not dead any more
    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", lambda event, body: None)
    assert process(app, start + timedelta(seconds=31)).processed == 1


def test_processing_is_held_while_paused_then_drains_in_arrival_order(app, client, activate, monkeypatch):
    seen: list[str] = []
    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", lambda event, body: seen.append(event.event_id))
    activate(mode="full", pause_webhook_processing=True)
    for n in range(4):
        body = stripe_event(f"evt_p{n}")
        assert client.post("/webhooks/stripe", data=body, headers=stripe_headers(body)).status_code == 200
    report = process(app)
    assert report.held and report.handled == 0 and seen == []
    with app.app_context():
        assert webhook_service.pending_count() == 4
        maintenance_service.end_window(Actor("cli:test"))
    assert process(app).processed == 4
    assert seen == [f"evt_p{n}" for n in range(4)]


def test_a_window_without_the_pause_flag_does_not_hold_processing(app, client, activate):
    activate(mode="full")
    body = stripe_event("evt_np")
    client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert process(app).processed == 1


def test_health_and_metrics_report_inbox_depths(app, client, monkeypatch):
    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", lambda e, b: 1 / 0)
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 1
    for n in range(3):
        body = stripe_event(f"evt_h{n}")
        client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    with app.app_context():
        webhook_service.process_inbox(limit=1)
    depths = client.get("/health/ready").json["checks"]["queues"]["depths"]
    assert depths["webhook_inbox_pending"] == 2 and depths["webhook_dead_letters"] == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "webhook_inbox_pending" in metrics and "webhook_dead_letters" in metrics


# -- outbound --------------------------------------------------------------------------------


@pytest.fixture
def receivers(app):
    with FakeHTTPServer() as first, FakeHTTPServer() as second:
        app.config.update(OUTBOUND_WEBHOOK_URLS=(first.url("/pausa"), second.url("/hook")),
                          OUTBOUND_WEBHOOK_SECRET=OUTBOUND_SECRET)
        yield first, second


def lower(recorded) -> dict:
    return {name.lower(): value for name, value in recorded.headers.items()}


def deliver(app, now=None):
    with app.app_context():
        return webhook_service.deliver_outbound(now=now)


def test_every_transition_is_delivered_signed_to_every_url(app, activate, receivers):
    first, second = receivers
    window_id = activate(mode="full", message="Upgrading the database")
    with app.app_context():
        maintenance_service.end_window(Actor("cli:test"))
    report = deliver(app)
    assert report.sent == 4
    for server in receivers:
        assert [r.json["type"] for r in server.requests] == ["window.started", "window.ended"]
        for recorded in server.requests:
            headers = lower(recorded)
            payload = Webhook(OUTBOUND_SECRET).verify(recorded.body, headers)  # the official library
            assert payload["data"]["id"] == window_id
            assert headers["content-type"] == "application/json"
    assert lower(first.requests[0])["webhook-id"] == lower(second.requests[0])["webhook-id"]
    assert first.requests[0].json["data"]["message"] == "Upgrading the database"
    assert deliver(app).sent == 0


def test_outbound_failures_are_retried_with_the_same_message_id(app, activate, receivers):
    first, second = receivers
    app.config.update(OUTBOUND_WEBHOOK_URLS=(first.url("/pausa"),), WEBHOOK_MAX_ATTEMPTS=3)
    first.script(500, 503, 200)
    activate()
    start = utcnow()
    assert deliver(app, start).retried == 1
    assert deliver(app, start + timedelta(seconds=5)).sent == 0  # backing off
    assert deliver(app, start + timedelta(seconds=10)).retried == 1
    assert deliver(app, start + timedelta(seconds=30)).sent == 1
    ids = {lower(r)["webhook-id"] for r in first.requests}
    assert len(first.requests) == 3 and len(ids) == 1
    with app.app_context():
        row = db.session.scalar(select(OutboundWebhook))
        assert (row.status, row.attempts, row.last_status) == ("sent", 3, 200)


def test_outbound_gives_up_after_max_attempts(app, activate, receivers):
    first, _ = receivers
    app.config.update(OUTBOUND_WEBHOOK_URLS=(first.url("/x"),), WEBHOOK_MAX_ATTEMPTS=2)
    first.script(500)
    activate()
    start = utcnow()
    deliver(app, start)
    assert deliver(app, start + timedelta(seconds=10)).failed == 1
    with app.app_context():
        row = db.session.scalar(select(OutboundWebhook))
        assert (row.status, row.last_error) == ("failed", "HTTP 500")


def test_no_outbound_without_urls(app, activate):
    activate()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboundWebhook)) == 0


# -- dashboard -------------------------------------------------------------------------------


def test_dashboard_shows_the_inbox_and_replays_a_dead_letter(app, client, auth, monkeypatch):
    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", lambda e, b: 1 / 0)
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 1
    for n in range(2):
        body = stripe_event(f"evt_d{n}")
        client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    with app.app_context():
        webhook_service.process_inbox(limit=1)
    auth.login("admin")
    html = client.get("/admin").get_data(as_text=True)
    assert "Webhook inbox" in html and "evt_d0" in html and "evt_d1" in html
    assert "ZeroDivisionError" in html
    [dead] = [e for e in events(app) if e.status == "dead"]
    token = auth.csrf()
    response = client.post(f"/admin/webhooks/{dead.id}/replay", data={"csrf_token": token},
                           headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"})
    assert response.status_code == 200
    assert "back in the inbox" in response.get_data(as_text=True)
    assert {e.event_id: e.status for e in events(app)} == {"evt_d0": "pending", "evt_d1": "pending"}
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "webhook.replayed"))
        assert entry.actor == "admin@example.com"
    again = client.post(f"/admin/webhooks/{dead.id}/replay", data={"csrf_token": token},
                        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"})
    assert again.status_code == 409


def test_replay_needs_an_admin(app, client, auth):
    auth.login("developer")
    response = client.post("/admin/webhooks/1/replay", data={"csrf_token": auth.csrf("/")})
    assert response.status_code in (302, 403)
