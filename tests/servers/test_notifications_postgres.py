"""Two workers sending on a real PostgreSQL: every delivery goes out exactly once.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_scheduling_postgres.py.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import CircuitBreaker, Delivery, utcnow
from app.services import notifications
from tests.app.test_notifications import ended_window, subscribe
from tests.support.apps import race
from tests.support.fixtures import assert_sent_once_in_batches


def test_two_workers_send_each_delivery_exactly_once(mailing_pg_app, fake):
    with mailing_pg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 2500, "en", prefix="en")
        subscribe(window_id, 1200, "pt_BR", prefix="pt")

    results, errors = race(mailing_pg_app, lambda: notifications.send_due_deliveries())
    assert not errors, errors
    assert len(results) == 2
    assert_sent_once_in_batches(fake, results, english=2500, portuguese=1200)
    assert all(report.calls > 0 for report in results), "both workers should have sent"
    with mailing_pg_app.app_context():
        assert dict(db.session.execute(
            select(Delivery.status, func.count()).group_by(Delivery.status)).all()) == {"sent": 3700}
        # every batch id belongs to one call
        assert db.session.scalar(select(func.count(func.distinct(Delivery.batch_id)))) == len(fake.calls)


def test_two_workers_only_one_half_open_trial(mailing_pg_app, fake):
    with mailing_pg_app.app_context():
        window_id = ended_window()
        subscribe(window_id, 1500)
        db.session.add(CircuitBreaker(name="sendgrid", state="open", failures=5,
                                      opened_at=utcnow() - timedelta(minutes=2),
                                      retry_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    fake.fail_next(5, 500)
    results, errors = race(mailing_pg_app, lambda: notifications.send_due_deliveries())
    assert not errors, errors
    assert len(fake.calls) == 1  # one trial, it failed: open again, nobody else called
    with mailing_pg_app.app_context():
        breaker = db.session.get(CircuitBreaker, "sendgrid")
        assert breaker.state == "open"


def test_a_stale_sending_row_becomes_uncertain_once_with_two_workers(mailing_pg_app, fake):
    with mailing_pg_app.app_context():
        window_id = ended_window(minutes_ago=30)
        subscribe(window_id, 3)
        db.session.execute(update(Delivery).values(
            status="sending", batch_id="dead", attempts=1, not_before=utcnow() - timedelta(minutes=20)))
        db.session.commit()
    results, errors = race(mailing_pg_app, lambda: notifications.send_due_deliveries())
    assert not errors, errors
    assert sum(report.uncertain for report in results) == 3
    assert fake.calls == []
    with mailing_pg_app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.status == "uncertain")) == 3
