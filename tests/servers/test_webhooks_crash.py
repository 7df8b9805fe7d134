"""Crash test (issue 6): SIGKILL a gunicorn worker during a burst of signed Stripe events.

Real stack: a private PostgreSQL database with the models' schema,
`gunicorn -c gunicorn.conf.py wsgi:app` with two workers, eight sender threads
on fresh connections. One worker is killed with SIGKILL mid-burst; gunicorn
replaces it. Afterwards every event that got a 200 must be in the inbox exactly
once, and senders that saw an error (as Stripe would) retry and get a 200 or a
duplicate 200 — never a second row. Fails (never skips) when PostgreSQL is down.
About 10 s.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import signal
import threading
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from app import create_app
from app.config import database_url
from app.extensions import db
from app.models import MaintenanceState
from bench.common import app_env, get, gunicorn

SECRET = "whsec_crash_test"
THREADS = 8
PER_THREAD = 50


def signed(event_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": event_id, "type": "charge.succeeded",
                       "data": {"object": {"amount": 100, "currency": "usd"}}}).encode()
    stamp = int(time.time())
    signature = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"}


def send(port: int, event_id: str) -> int | None:
    body, headers = signed(event_id)
    try:
        status, _, _ = get(port, "/webhooks/stripe", headers=headers, method="POST", body=body, timeout=10)
        return status
    except (OSError, http.client.HTTPException):  # reset, or an answer cut off, by the killed worker
        return None


def workers_of(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


@pytest.fixture
def database(postgres_url):
    url = make_url(postgres_url)
    name = f"pausa_crash_{os.getpid()}"
    admin = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_sigkill_a_worker_mid_burst_loses_no_acknowledged_event(database, tmp_path):
    env = app_env(database, STRIPE_WEBHOOK_SECRETS=SECRET)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url(database)})
    with app.app_context():  # the schema of the models (`flask db upgrade` takes seconds longer)
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    started = time.monotonic()
    results: dict[str, int | None] = {}
    lock = threading.Lock()
    progress = threading.Event()
    with gunicorn("crash", env, tmp_path, workers=2) as server:
        # The app is built before the fork: the first worker may answer before the second is forked.
        deadline = time.monotonic() + 10
        while len(before := workers_of(server.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(before) == 2

        def sender(thread: int) -> None:
            for n in range(PER_THREAD):
                event_id = f"evt_crash_{thread}_{n:03d}"
                status = send(server.port, event_id)
                with lock:
                    results[event_id] = status
                    if len(results) >= THREADS * PER_THREAD // 3:
                        progress.set()

        threads = [threading.Thread(target=sender, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        assert progress.wait(20), "the burst did not get going"
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == THREADS * PER_THREAD
        acknowledged = {event_id for event_id, status in results.items() if status == 200}
        failed = sorted(event_id for event_id, status in results.items() if status != 200)
        assert all(status in (200, 500, 502, 503, None) for status in results.values()), set(results.values())
        assert len(acknowledged) > THREADS * PER_THREAD // 2
        after = workers_of(server.process.pid)
        assert victim not in after, "the SIGKILLed worker is still there"

        with psycopg.connect(database) as connection:
            stored = connection.execute(
                "SELECT event_id, count(*) FROM webhook_events WHERE provider = 'stripe' GROUP BY event_id"
            ).fetchall()
        counts = dict(stored)
        missing = acknowledged - counts.keys()
        assert not missing, f"{len(missing)} acknowledged event(s) lost: {sorted(missing)[:5]}"
        assert all(count == 1 for count in counts.values())
        # Senders retry what did not get a 200 (and some that did): a 200 each time, one row each.
        for event_id in failed + sorted(acknowledged)[:20]:
            assert send(server.port, event_id) == 200
        with psycopg.connect(database) as connection:
            rows, distinct = connection.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM webhook_events").fetchone()
        assert rows == distinct == THREADS * PER_THREAD
        print(f"burst and checks took {time.monotonic() - started:.1f} s; {len(failed)} request(s) failed")
