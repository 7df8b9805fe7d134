"""`flask worker`: the task registry, failure isolation, outages, heartbeats and signals."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from app.demo.models import DemoItem
from app.extensions import db
from app.models import WorkerHeartbeat, utcnow
from app.services.claims import claim
from app.worker import Registry, Worker, load_tasks, prune_heartbeats
from tests.support.apps import make_app

ROOT = Path(__file__).resolve().parents[2]


def heartbeats(app) -> list[WorkerHeartbeat]:
    with app.app_context():
        rows = db.session.scalars(select(WorkerHeartbeat)).all()
        db.session.expunge_all()
        return list(rows)


def test_registry_knows_the_built_in_tasks():
    tasks = load_tasks()
    assert {"finish-expired-windows", "prune-worker-heartbeats"} <= set(tasks.names())
    by_name = {item.name: item for item in tasks}
    assert by_name["finish-expired-windows"].every == 5.0
    assert by_name["finish-expired-windows"].wants_context
    assert not by_name["prune-worker-heartbeats"].wants_context


def test_registry_refuses_a_second_task_with_the_same_name_and_bad_periods():
    tasks = Registry()
    tasks.task("a")(lambda: None)
    with pytest.raises(ValueError, match="already registered"):
        tasks.task("a")(lambda: None)
    with pytest.raises(ValueError):
        tasks.task("b", every=0)


def test_once_runs_every_task_with_or_without_context_and_writes_a_heartbeat(app):
    tasks = Registry()
    calls = []

    @tasks.task("plain", every=3600)
    def plain():
        calls.append("plain")

    @tasks.task("with-context", every=3600)
    def with_context(ctx):
        calls.append((ctx.task_name, ctx.worker_name, ctx.should_stop()))
        ctx.echo("reported")

    echoed = []
    worker = Worker(app, tasks, name="host:1", echo=echoed.append, handle_signals=False)
    assert worker.run(once=True) == 0
    assert calls == ["plain", ("with-context", "host:1", False)]
    assert echoed == ["reported"]
    (row,) = heartbeats(app)
    assert row.name == "host:1"
    assert row.stopped_at is not None and row.current_task is None and row.last_error is None
    assert row.beat_at >= row.started_at


def test_cli_worker_once_exits_0_and_names_itself_host_pid(app, runner):
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    (row,) = heartbeats(app)
    assert row.name.endswith(f":{os.getpid()}")


def test_a_failing_task_is_logged_backed_off_and_never_stops_the_others(app, caplog):
    tasks = Registry()
    runs = {"good": 0, "bad": 0}

    @tasks.task("bad", every=0.01)
    def bad():
        runs["bad"] += 1
        raise RuntimeError("boom")

    @tasks.task("good", every=0.01)
    def good():
        runs["good"] += 1
        if runs["good"] == 25:
            worker.stop()

    worker = Worker(app, tasks, name="host:2", interval=0.01, handle_signals=False)
    caplog.set_level(logging.INFO, logger="pausa.worker")
    assert worker.run() == 0
    assert runs["good"] == 25
    # Backed off: 0.02, 0.04, 0.08 ... seconds apart instead of every 0.01 s.
    assert 1 <= runs["bad"] < runs["good"] / 2
    tracebacks = [r for r in caplog.records if r.exc_info and "bad" in r.getMessage()]
    assert len(tracebacks) == 1  # the first failure with its traceback, then one line each
    (row,) = heartbeats(app)
    assert "bad: RuntimeError: boom" in row.last_error
    bad_schedule = next(s for s in worker.schedules if s.task.name == "bad")
    assert bad_schedule.failures == runs["bad"]


def test_backoff_is_capped(app):
    tasks = Registry()
    tasks.task("bad", every=10)(lambda: 1 / 0)
    worker = Worker(app, tasks, handle_signals=False, max_backoff=30)
    for _ in range(5):
        worker.run_pass(force=True)
    schedule = worker.schedules[0]
    assert schedule.failures == 5
    assert schedule.next_due - worker.clock() <= 30


def test_once_exits_1_when_a_task_fails_and_0_once_it_recovers(app):
    tasks = Registry()
    state = {"fail": True}

    @tasks.task("flaky")
    def flaky():
        if state["fail"]:
            raise ValueError("not yet")

    assert Worker(app, tasks, handle_signals=False).run(once=True) == 1
    state["fail"] = False
    assert Worker(app, tasks, handle_signals=False).run(once=True) == 0


def test_database_outage_is_logged_once_retried_and_survived(app, caplog):
    """With the database gone the worker keeps beating (and failing) quietly, then resumes."""
    tasks = Registry()
    runs = []
    tasks.task("work", every=0.01)(lambda: runs.append(time.monotonic()))
    worker = Worker(app, tasks, name="host:3", interval=0.02, handle_signals=False)
    attempts = []
    real_beat = worker.beat

    def counting_beat(current):
        attempts.append(current)
        ok = real_beat(current)
        if ok and runs:
            worker.stop()
        return ok

    worker.beat = counting_beat
    with app.app_context():
        good = db.engine
        db.session.remove()
        engines = db._app_engines[app]
    engines[None] = create_engine("sqlite:////nonexistent/dir/pausa.db")
    restore = threading.Timer(0.4, lambda: engines.__setitem__(None, good))
    caplog.set_level(logging.INFO, logger="pausa.worker")
    restore.start()
    try:
        assert worker.run() == 0
    finally:
        restore.cancel()
        engines[None] = good
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "database unavailable" in m]) == 1
    assert len([m for m in messages if "database reachable again" in m]) == 1
    assert len(attempts) >= 5  # it kept retrying during the outage
    assert runs  # and ran its task once the database was back
    assert heartbeats(app)[0].name == "host:3"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_current_task_finish_then_stops(app, signum):
    tasks = Registry()
    done = []

    @tasks.task("first", every=0.01)
    def first():
        os.kill(os.getpid(), signum)
        time.sleep(0.05)  # the signal arrives mid-task; the task still completes
        done.append("first")

    @tasks.task("second", every=0.01)
    def second():
        done.append("second")

    before = signal.getsignal(signum)
    worker = Worker(app, tasks, name="host:4", interval=0.01)
    started = time.monotonic()
    assert worker.run() == 0
    assert time.monotonic() - started < 2
    assert done == ["first"]
    assert signal.getsignal(signum) is before  # handlers restored
    (row,) = heartbeats(app)
    assert row.stopped_at is not None


def test_flask_worker_process_exits_0_on_sigterm_and_leaves_a_heartbeat(tmp_path):
    database = tmp_path / "worker.db"
    make_app(tmp_path, database_url=f"sqlite:///{database}")
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("PROMETHEUS_MULTIPROC_DIR", "REDIS_URL", "TEST_DATABASE_URL", "DATABASE_URL")
    }
    env.update(
        FLASK_APP="wsgi.py", DATABASE_URL=f"sqlite:///{database}", SECRET_KEY="test", PAUSA_ENV="development"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker", "--interval", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        rows = []
        while not rows:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no heartbeat within 15 s"
            time.sleep(0.05)
            with sqlite3.connect(database) as connection:
                rows = connection.execute("SELECT name, stopped_at FROM worker_heartbeats").fetchall()
        assert rows[0][0].endswith(f":{process.pid}") and rows[0][1] is None
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=5)
        assert process.returncode == 0, err.decode()
        assert time.monotonic() - sent < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    with sqlite3.connect(database) as connection:
        (stopped_at,) = connection.execute("SELECT stopped_at FROM worker_heartbeats").fetchone()
    assert stopped_at is not None
    assert b"Traceback" not in err


def test_claim_locks_rows_only_on_postgresql(app, sql_counter):
    """SQLite (one worker) gets a plain limited select; PostgreSQL FOR UPDATE SKIP LOCKED."""
    with app.app_context():
        db.session.add_all([DemoItem(name=f"item {n}") for n in range(5)])
        db.session.commit()
        names = [row.name for row in claim(select(DemoItem).order_by(DemoItem.id), 2)]
        dialect = db.session.get_bind().dialect.name
        db.session.rollback()
    assert names == ["item 0", "item 1"]
    locking = [statement for statement in sql_counter.statements if "FOR UPDATE SKIP LOCKED" in statement]
    assert len(locking) == (1 if dialect == "postgresql" else 0)


def test_prune_forgets_silent_workers_only(app):
    with app.app_context():
        old = utcnow() - timedelta(days=8)
        db.session.add_all([
            WorkerHeartbeat(name="gone:1", started_at=old, beat_at=old),
            WorkerHeartbeat(name="alive:2"),
        ])
        db.session.commit()
        assert prune_heartbeats() == 1
    assert [row.name for row in heartbeats(app)] == ["alive:2"]
