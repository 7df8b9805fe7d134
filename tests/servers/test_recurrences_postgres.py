"""Recurring windows with several workers on a real PostgreSQL: each occurrence is planned once.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_scheduling_postgres.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow, Recurrence
from app.services import recurrences as recurrence_service
from tests.support.apps import private_postgres_app, race

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
RULE = {"frequency": "weekly", "weekday": "SU", "start": "01:30", "end": "03:00", "time_zone": "Europe/Lisbon"}


@pytest.fixture
def pg_app(postgres_url):
    with private_postgres_app(postgres_url, "recur") as app:
        yield app


@pytest.fixture
def slow_locks(pg_app):
    """Widen the race: whoever takes the state-row lock keeps it a while, so the others queue."""
    with pg_app.app_context():
        engine = db.engine

    def hold(conn, cursor, statement, parameters, context, executemany):
        if "FOR UPDATE" in statement:
            time.sleep(0.2)

    event.listen(engine, "after_cursor_execute", hold)
    yield
    event.remove(engine, "after_cursor_execute", hold)


def test_workers_planning_at_once_plan_each_occurrence_once(pg_app, slow_locks):
    with pg_app.app_context():
        for _ in range(2):
            db.session.add(Recurrence(rule=RULE, window={"message": "Sunday upkeep"}, created_by="test"))
        db.session.add(Recurrence(rule={**RULE, "weekday": "WE"}, window={}, created_by="test"))
        db.session.commit()

    def plan():
        return [window.id for window in recurrence_service.plan_ahead(NOW)]

    results, errors = race(pg_app, plan, threads=4)
    assert errors == []
    with pg_app.app_context():
        rows = list(db.session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id)))
        scheduled = db.session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "maintenance.scheduled")
        )
    # Two Sunday recurrences at the same time overlap: the first plans its four, the second none;
    # the Wednesday one plans its four. Each exactly once, whoever got there first.
    pairs = [(row.recurrence_id, row.occurrence_at) for row in rows]
    assert len(pairs) == len(set(pairs)) == 8
    assert sorted(sum(results, [])) == [row.id for row in rows]
    assert scheduled == 8
    assert [row.starts_at for row in rows if row.recurrence_id == 1][2] == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
