"""Two worker processes on PostgreSQL never process the same row (real server; fails if it is down)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from app.demo.models import DemoItem
from app.extensions import db
from app.models import AuditEntry, MaintenanceState, MaintenanceWindow, utcnow
from app.services import audit as audit_service
from app.services import clock as clock_service
from app.services.claims import claim
from tests.support.apps import private_postgres_app


@pytest.fixture
def pg_app(postgres_url):
    """An app on a private schema of the PostgreSQL server, so nothing else running there interferes."""
    with private_postgres_app(postgres_url, "worker") as app:
        yield app


def test_claim_skips_rows_another_worker_holds(pg_app):
    with pg_app.app_context():
        db.session.add_all([DemoItem(name=f"item {n}") for n in range(5)])
        db.session.commit()
    with pg_app.app_context():  # worker A: its own session and connection
        first = [row.id for row in claim(select(DemoItem).order_by(DemoItem.id), 2)]
        with pg_app.app_context():  # worker B, while A's transaction is still open
            db.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail, not hang
            started = time.monotonic()
            second = [row.id for row in claim(select(DemoItem).order_by(DemoItem.id), 10)]
            assert time.monotonic() - started < 1  # skipped, did not wait
            db.session.rollback()
        db.session.rollback()
    assert len(first) == 2 and len(second) == 3
    assert not set(first) & set(second)


def _expire_a_window(app) -> int:
    """Insert an active window whose hard end passed a minute ago (the gate already lets traffic in)."""
    with app.app_context():
        now = utcnow()
        window = MaintenanceWindow(
            status="active", starts_at=now - timedelta(hours=1), started_at=now - timedelta(hours=1),
            ends_at=now - timedelta(minutes=1), created_by="cli:test", started_by="cli:test",
        )
        db.session.add(window)
        db.session.commit()
        return window.id


def test_two_workers_end_each_expired_window_exactly_once(pg_app):
    """Both workers see the expired window, race for it, and only one records its end."""
    with pg_app.app_context():
        engine = db.engine

    def hold_the_lock(conn, cursor, statement, parameters, context, executemany):
        # Widen the race: whoever locks the state row first keeps it a while, so the other
        # worker has certainly seen the window as expired and queues behind the lock.
        if "maintenance_state" in statement and "FOR UPDATE" in statement:
            time.sleep(0.2)

    event.listen(engine, "after_cursor_execute", hold_the_lock)
    try:
        for _ in range(3):
            window_id = _expire_a_window(pg_app)
            barrier = threading.Barrier(2)
            results: list = []
            errors: list = []

            def work():
                try:
                    with pg_app.app_context():
                        barrier.wait(timeout=5)
                        results.append([window.id for window in clock_service.finish_expired_windows()])
                except Exception as error:  # surfaced below
                    errors.append(error)

            threads = [threading.Thread(target=work) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=10)
            assert not errors, errors
            assert sorted(results) == [[], [window_id]]
            with pg_app.app_context():
                window = db.session.get(MaintenanceWindow, window_id)
                assert (window.status, window.ended_by, window.ended_how) == ("completed", "system", "auto")
                ended = db.session.scalar(
                    select(func.count()).select_from(AuditEntry).where(
                        AuditEntry.action == "maintenance.ended", AuditEntry.target == f"window:{window_id}"
                    )
                )
                assert ended == 1
    finally:
        event.remove(engine, "after_cursor_execute", hold_the_lock)
    with pg_app.app_context():
        assert db.session.get(MaintenanceState, 1).version == 1 + 3  # one bump per window, none wasted
        assert audit_service.verify_chain().ok
