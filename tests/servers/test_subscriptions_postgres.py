"""Subscribers on a real PostgreSQL: the INSERT … SELECT queue, concurrent duplicates, retention's UPDATE.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_scheduling_postgres.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, insert, select, text

from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, Delivery, Subscriber, utcnow
from app.services import maintenance as maintenance_service
from app.services import subscriptions
from tests.support.apps import private_postgres_app


@pytest.fixture
def pg_app(postgres_url):
    """An app on a private schema of the PostgreSQL server, so nothing else running there interferes."""
    with private_postgres_app(postgres_url, "subscribers") as app:
        yield app


def activate(app) -> int:
    with app.app_context():
        window = maintenance_service.activate_window(validate_window({"eta": "1h"}, utcnow()), Actor("t"))
        return window.id


def add_subscribers(app, window_id: int, count: int, created_at=None) -> None:
    with app.app_context():
        db.session.execute(
            insert(Subscriber),
            [{"window_id": window_id, "email": f"user{n}@example.com",
              "email_hash": subscriptions.email_hash(f"user{n}@example.com"),
              "language": "en", "created_at": created_at or utcnow()} for n in range(count)],
        )
        db.session.commit()


def test_ten_thousand_subscribers_queue_in_one_statement_with_the_end(pg_app):
    window_id = activate(pg_app)
    add_subscribers(pg_app, window_id, 10_000)
    started = time.perf_counter()
    with pg_app.app_context():
        window = maintenance_service.end_window(Actor("t"))
        elapsed = time.perf_counter() - started
        assert subscriptions.queue_deliveries(window, window.ended_at) == 0
        db.session.execute(text("DELETE FROM deliveries WHERE subscriber_id = (SELECT min(id) FROM subscribers)"))
        assert subscriptions.queue_deliveries(window, window.ended_at) == 1
        ended_at = window.ended_at
        db.session.rollback()
        rows = db.session.execute(
            select(Delivery.status, Delivery.not_before, func.count()).group_by(Delivery.status, Delivery.not_before)
        ).all()
    assert rows == [("queued", ended_at + timedelta(seconds=60), 10_000)]
    assert elapsed < 2.0, f"queueing 10,000 took {elapsed:.2f} s"


def test_a_rolled_back_end_queues_nothing(pg_app, monkeypatch):
    window_id = activate(pg_app)
    add_subscribers(pg_app, window_id, 5)
    real = subscriptions.queue_deliveries

    def queue_then_fail(window, ended_at):
        real(window, ended_at)
        raise RuntimeError("crash before the commit")

    monkeypatch.setattr(subscriptions, "queue_deliveries", queue_then_fail)
    with pg_app.app_context(), pytest.raises(RuntimeError):
        maintenance_service.end_window(Actor("t"))
    with pg_app.app_context():
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_same_address_at_the_same_moment_subscribes_once(pg_app):
    window_id = activate(pg_app)
    barrier = threading.Barrier(4)
    results: list = []

    def run():
        with pg_app.app_context():
            barrier.wait(timeout=5)
            results.append(subscriptions.subscribe(window_id, "Ana@Example.com", "en"))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 4 and len({r.subscriber_id for r in results}) == 1
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_retention_erases_old_addresses(pg_app):
    window_id = activate(pg_app)
    now = utcnow()
    add_subscribers(pg_app, window_id, 3, created_at=now - timedelta(days=8))
    with pg_app.app_context():
        pending = db.session.scalar(select(Subscriber.id).order_by(Subscriber.id).limit(1))
        db.session.add(Delivery(window_id=window_id, subscriber_id=pending, status="sending", not_before=now))
        db.session.commit()
        assert subscriptions.erase_expired_subscribers(now) == 2
        rows = db.session.scalars(select(Subscriber).order_by(Subscriber.id)).all()
        assert rows[0].email is not None
        assert [(r.email, r.email_hash) for r in rows[1:]] == [(None, f"erased:{r.id}") for r in rows[1:]]
        audit = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "subscribers.erased"))
        assert audit.details["count"] == 2
