"""Several workers on a real PostgreSQL: every notice goes out at most once, the reminder is queued once.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_notifications_postgres.py.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, insert, select

from app import hooks
from app.extensions import db
from app.models import MaintenanceWindow, Notice, NoticeRound, StandingSubscriber, utcnow
from app.services import notifications, subscriptions
from tests.support.apps import race
from tests.support.fixtures import assert_sent_once_in_batches


def confirmed_subscribers(count: int, language: str, prefix: str) -> None:
    now = utcnow()
    rows = []
    for n in range(count):
        email = f"{prefix}{n}@example.com"
        rows.append({"email": email, "email_hash": hashlib.sha256(email.encode()).hexdigest(),
                     "language": language, "status": "confirmed", "confirm_attempts": 0, "created_at": now})
    db.session.execute(insert(StandingSubscriber), rows)
    db.session.commit()


def scheduled_window(starts_in: timedelta) -> MaintenanceWindow:
    now = utcnow()
    window = MaintenanceWindow(status="scheduled", reason="deployment", created_by="admin@example.com",
                               created_at=now - timedelta(days=1), starts_at=now + starts_in)
    db.session.add(window)
    db.session.commit()
    return window


def test_several_workers_queue_the_reminder_once_and_run_its_hook_once(mailing_pg_app):
    heard = []

    def remind(window, **details):
        heard.append(window.id)

    with mailing_pg_app.app_context():
        confirmed_subscribers(50, "en", "en")
        window_id = scheduled_window(timedelta(minutes=30)).id
    hooks.on("window.reminder", remind)
    try:
        results, errors = race(mailing_pg_app, lambda: len(subscriptions.queue_due_reminders()), threads=4)
    finally:
        hooks.off("window.reminder", remind)
    assert not errors, errors
    assert sorted(results) == [0, 0, 0, 1] and heard == [window_id]
    with mailing_pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Notice)) == 50
        assert db.session.scalar(select(func.count()).select_from(NoticeRound)) == 1


def test_several_workers_send_each_notice_once_even_when_queued_again_after_a_restart(mailing_pg_app, fake):
    with mailing_pg_app.app_context():
        confirmed_subscribers(2500, "en", "en")
        confirmed_subscribers(1200, "pt_BR", "pt")
        window = scheduled_window(timedelta(days=2))
        subscriptions.queue_notices(window, "scheduled", utcnow())
        db.session.commit()
        db.session.execute(NoticeRound.__table__.delete())  # as if the round had been lost: queue again
        assert subscriptions.queue_notices(window, "scheduled", utcnow()) == 0  # the unique constraint
        db.session.commit()

    results, errors = race(mailing_pg_app, lambda: notifications.send_due_notices(), threads=3)
    assert not errors, errors
    assert_sent_once_in_batches(fake, results, english=2500, portuguese=1200)
    with mailing_pg_app.app_context():
        assert dict(db.session.execute(
            select(Notice.status, func.count()).group_by(Notice.status)).all()) == {"sent": 3700}
