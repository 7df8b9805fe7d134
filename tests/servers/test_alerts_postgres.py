"""Admin alerts on a real PostgreSQL: raised and sent exactly once with two processes racing.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_scheduling_postgres.py.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import AdminAlert, AuditEntry
from app.services import alerts as alerts_service
from tests.support.apps import private_postgres_app, race
from tests.support.fake_http import FakeHTTPServer


@pytest.fixture
def slack():
    with FakeHTTPServer() as server:
        yield server


@pytest.fixture
def pg_app(postgres_url, slack):
    """An app on a private schema of the PostgreSQL server, with Slack pointed at the fake server."""
    with private_postgres_app(postgres_url, "alerts", SLACK_WEBHOOK_URL=slack.url("/hook")) as app:
        yield app



@pytest.fixture
def slow_locks(pg_app):
    """Whoever takes a row lock keeps it a while, so the other worker has to skip it."""
    with pg_app.app_context():
        engine = db.engine

    def hold(conn, cursor, statement, parameters, context, executemany):
        if "FOR UPDATE" in statement or "ON CONFLICT" in statement:
            time.sleep(0.2)

    event.listen(engine, "after_cursor_execute", hold)
    yield
    event.remove(engine, "after_cursor_execute", hold)


def count(app, model_filter) -> int:
    with app.app_context():
        return db.session.scalar(model_filter)


def test_two_processes_raising_the_same_cause_make_one_alert(pg_app, slow_locks):
    results, errors = race(
        pg_app, lambda: alerts_service.raise_alert("overdue:window:1:t", "overdue", "Window 1 is overdue")
    )
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert count(pg_app, select(func.count()).select_from(AdminAlert)) == 1
    assert count(pg_app, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "alert.raised")) == 1


def test_two_workers_send_each_alert_exactly_once(pg_app, slow_locks, slack):
    with pg_app.app_context():
        for number in range(4):
            alerts_service.raise_alert(f"ceiling:window:{number}", "ceiling", f"Window {number} is too long")
    results, errors = race(pg_app, lambda: [a.cause for a in alerts_service.send_pending_alerts()])
    assert not errors, errors
    sent = [cause for result in results for cause in result]
    assert sorted(sent) == [f"ceiling:window:{number}" for number in range(4)]
    assert slack.count == 4
    assert sorted(r.json["text"] for r in slack.requests) == [
        f"[Pausa] Window {number} is too long" for number in range(4)
    ]
    assert count(pg_app, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "alert.sent")) == 4
    results, errors = race(pg_app, lambda: alerts_service.send_pending_alerts())
    assert not errors and results == [[], []]
    assert slack.count == 4
    with pg_app.app_context():
        from app.services import audit

        assert audit.verify_chain().ok
