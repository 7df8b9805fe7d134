"""Planned windows with two workers on a real PostgreSQL: each transition happens exactly once.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_worker_postgres.py.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import event, func, select

from app import hooks
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, MaintenanceWindow, utcnow
from app.services import Conflict
from app.services import clock as clock_service
from app.services import scheduling as scheduling_service
from tests.support.apps import private_postgres_app, race


@pytest.fixture
def pg_app(postgres_url):
    """An app on a private schema of the PostgreSQL server, so nothing else running there interferes."""
    with private_postgres_app(postgres_url, "schedule") as app:
        yield app



@pytest.fixture
def slow_locks(pg_app):
    """Widen every race: whoever takes a lock keeps it a while, so the other thread queues or skips."""
    with pg_app.app_context():
        engine = db.engine

    def hold(conn, cursor, statement, parameters, context, executemany):
        if "FOR UPDATE" in statement:
            time.sleep(0.2)

    event.listen(engine, "after_cursor_execute", hold)
    yield
    event.remove(engine, "after_cursor_execute", hold)


@pytest.fixture
def hook_calls():
    seen: list[tuple[str, int]] = []
    lock = threading.Lock()
    registered = []
    for name in ("window.started", "window.overdue", "window.ceiling_exceeded"):
        def hook(window, _name=name, **details):
            with lock:
                seen.append((_name, window.id))
        hooks.on(name, hook)
        registered.append((name, hook))
    yield seen
    for name, hook in registered:
        hooks.off(name, hook)


def add_window(app, **fields) -> int:
    with app.app_context():
        now = utcnow()
        values = {
            "status": "scheduled", "starts_at": now - timedelta(minutes=1), "created_by": "cli:test",
            **fields,
        }
        window = MaintenanceWindow(**values)
        db.session.add(window)
        db.session.commit()
        return window.id


def audit_count(app, action: str, window_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == action, AuditEntry.target == f"window:{window_id}"
            )
        )


def test_two_workers_start_a_due_window_exactly_once(pg_app, slow_locks, hook_calls):
    for _ in range(2):
        window_id = add_window(pg_app, ends_at=utcnow() + timedelta(hours=1))
        results, errors = race(pg_app, lambda: [w.id for w in clock_service.start_due_windows()])
        assert not errors, errors
        assert sorted(results) == [[], [window_id]]
        with pg_app.app_context():
            window = db.session.get(MaintenanceWindow, window_id)
            assert (window.status, window.started_by) == ("active", "system")
            assert window.started_at == window.starts_at
            window.status = "completed"  # make room for the next round
            db.session.commit()
        assert audit_count(pg_app, "maintenance.started", window_id) == 1
        assert hook_calls.count(("window.started", window_id)) == 1


def test_two_workers_alert_overdue_and_ceiling_exactly_once(pg_app, slow_locks, hook_calls):
    now = utcnow()
    window_id = add_window(
        pg_app, status="active", starts_at=now - timedelta(hours=9), started_at=now - timedelta(hours=9),
        started_by="cli:test", eta=now - timedelta(minutes=5),
    )

    def alert():
        overdue = [w.id for w in clock_service.alert_overdue_windows()]
        ceiling = [w.id for w in clock_service.alert_ceiling_windows(8.0)]
        return overdue, ceiling

    results, errors = race(pg_app, alert)
    assert not errors, errors
    overdue = sorted(result[0] for result in results)
    ceiling = sorted(result[1] for result in results)
    assert overdue == [[], [window_id]] and ceiling == [[], [window_id]]
    assert audit_count(pg_app, "maintenance.overdue", window_id) == 1
    assert audit_count(pg_app, "maintenance.ceiling_exceeded", window_id) == 1
    assert hook_calls.count(("window.overdue", window_id)) == 1
    assert hook_calls.count(("window.ceiling_exceeded", window_id)) == 1


def test_two_admins_scheduling_overlapping_windows_at_once_get_one_window(pg_app):
    def plan():
        data = validate_window({"starts_at": "2h", "ends_at": "3h"}, utcnow())
        try:
            return scheduling_service.schedule_window(data, Actor("admin@example.com")).id
        except Conflict:
            return "conflict"

    results, errors = race(pg_app, plan)
    assert not errors, errors
    assert sorted(results, key=str).count("conflict") == 1
    with pg_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 1
