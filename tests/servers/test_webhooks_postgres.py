"""Webhooks on a real PostgreSQL: ingest is idempotent, two workers process each event exactly once,
and a paused window holds processing until it ends, then the inbox drains in arrival order.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_notifications_postgres.py.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import func, select

from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import PaymentEvent, WebhookEvent
from app.services import maintenance as maintenance_service
from app.services import webhooks as webhook_service
from tests.app.test_webhooks import stripe_event, stripe_headers
from tests.support.apps import private_postgres_app


@pytest.fixture
def pg_app(postgres_url):
    with private_postgres_app(postgres_url, "webhooks", WEBHOOK_BATCH_SIZE=25) as app:
        yield app


def post_events(app, count: int, prefix: str = "evt") -> list[str]:
    client = app.test_client()
    ids = []
    for n in range(count):
        body = stripe_event(f"{prefix}_{n:04d}", amount=n)
        response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
        assert response.status_code == 200, response.data
        ids.append(f"{prefix}_{n:04d}")
    return ids


def test_ingest_is_idempotent_on_postgresql(pg_app):
    post_events(pg_app, 3)
    client = pg_app.test_client()
    body = stripe_event("evt_0001", amount=999)
    response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert response.json == {"received": True, "duplicate": True}
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 3
        assert '"amount": 1' in db.session.scalar(
            select(WebhookEvent.payload).where(WebhookEvent.event_id == "evt_0001"))


def drain_with_two_workers(app, calls: list[str]) -> list:
    barrier = threading.Barrier(2)
    errors: list = []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=5)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    report = webhook_service.process_inbox()
                    if not report.busy and report.handled == 0 and webhook_service.pending_count() == 0:
                        return
        except Exception as error:  # surfaced below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_two_workers_process_each_event_exactly_once_in_arrival_order(pg_app, monkeypatch):
    ids = post_events(pg_app, 120)
    calls: list[str] = []
    lock = threading.Lock()
    original = webhook_service.HANDLERS["stripe"]

    def counting(event, body):
        with lock:
            calls.append(event.event_id)
        time.sleep(0.001)
        original(event, body)

    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", counting)
    errors = drain_with_two_workers(pg_app, calls)
    assert not errors, errors
    assert [event_id for event_id, n in Counter(calls).items() if n > 1] == []
    assert calls == ids  # every one, once, oldest first
    with pg_app.app_context():
        assert dict(db.session.execute(
            select(WebhookEvent.status, func.count()).group_by(WebhookEvent.status)).all()) == {"processed": 120}
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 120


def test_paused_window_holds_processing_then_drains_once_in_order(pg_app, monkeypatch):
    calls: list[str] = []
    monkeypatch.setitem(webhook_service.HANDLERS, "stripe", lambda event, body: calls.append(event.event_id))
    with pg_app.app_context():
        data = validate_window({"mode": "full", "pause_webhook_processing": True}, utcnow())
        maintenance_service.activate_window(data, Actor("cli:test"))
    ids = post_events(pg_app, 40, prefix="paused")  # senders keep getting 200s during the window
    with pg_app.app_context():
        for _ in range(3):
            assert webhook_service.process_inbox().held
        assert calls == [] and webhook_service.pending_count() == 40
        maintenance_service.end_window(Actor("cli:test"))
    errors = drain_with_two_workers(pg_app, calls)
    assert not errors, errors
    assert calls == ids
