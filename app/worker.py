"""The background worker behind `flask worker`: a small task registry and the loop that runs it.

A task is a function registered with a name and a period:

    from app.worker import task

    @task("send-emails", every=10.0)
    def send_emails(ctx):          # or with no argument at all
        ...                        # one service call: its own transaction

The loop runs each task when it is due, each in a fresh app context (so a
fresh database session). A task that raises is logged and backed off
(doubling up to MAX_BACKOFF seconds) while the others keep running; a
database outage is logged once and retried every pass, never fatal. Every
pass writes this process's row in `worker_heartbeats`, which /health/ready
and the dashboard read. SIGTERM or SIGINT lets the current task finish, then
the loop stops and the command exits 0 (a second signal exits at once).

Services that take rows from a table to process use `claim()`
(app/services/claims.py), so two worker processes on PostgreSQL never pick the
same rows.
"""

from __future__ import annotations

import inspect
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from importlib import import_module
from typing import Any

from flask import Flask
from pausa_gate.windows import utcnow
from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from .extensions import db
from .models import WorkerHeartbeat

log = logging.getLogger("pausa.worker")

# Modules whose import registers tasks on `registry` (later features add theirs here).
TASK_MODULES = ("app.tasks",)
MAX_BACKOFF = 300.0
HEARTBEAT_RETENTION = timedelta(days=7)


@dataclass(frozen=True)
class Task:
    name: str
    func: Callable[..., Any]
    every: float
    wants_context: bool

    def __call__(self, context: TaskContext) -> Any:
        return self.func(context) if self.wants_context else self.func()


class Registry:
    """Named periodic tasks, run in registration order."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def task(self, name: str, every: float = 5.0) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a function (taking nothing, or a TaskContext) to run every `every` seconds."""
        if every <= 0:
            raise ValueError("a task's period must be positive")

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            existing = self._tasks.get(name)
            if existing is not None and existing.func is not func:
                raise ValueError(f"a task named {name!r} is already registered")
            self._tasks[name] = Task(name, func, float(every), _wants_context(func))
            return func

        return register

    def __iter__(self) -> Iterator[Task]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        return list(self._tasks)


def _wants_context(func: Callable[..., Any]) -> bool:
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(
        parameter.kind in positional and parameter.default is inspect.Parameter.empty
        for parameter in inspect.signature(func).parameters.values()
    )


registry = Registry()
task = registry.task


def load_tasks() -> Registry:
    """Import the modules that register tasks and return the shared registry."""
    for module in TASK_MODULES:
        import_module(module)
    return registry


def default_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


@dataclass
class TaskContext:
    """What a task may use: the app, a way to report, and whether the worker is stopping."""

    app: Flask
    worker_name: str
    task_name: str
    echo: Callable[[str], None]
    _worker: Worker

    def should_stop(self) -> bool:
        """Long tasks check this between batches and return early when the worker is stopping."""
        return self._worker.stopping

    def beat(self) -> None:
        """Refresh the heartbeat during a long task."""
        self._worker.beat(self.task_name)


@dataclass
class _Schedule:
    task: Task
    next_due: float = 0.0
    failures: int = 0
    error: str | None = None


def is_outage(error: BaseException) -> bool:
    """Tell a database that cannot be reached (or used) from a bug in a task."""
    if isinstance(error, OperationalError | InterfaceError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


class Worker:
    """Run the registered tasks on their schedules, with a heartbeat, until told to stop."""

    def __init__(
        self,
        app: Flask,
        tasks: Registry | None = None,
        *,
        interval: float = 5.0,
        name: str | None = None,
        echo: Callable[[str], None] | None = None,
        handle_signals: bool = True,
        max_backoff: float = MAX_BACKOFF,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.tasks = tasks if tasks is not None else load_tasks()
        self.interval = max(float(interval), 0.01)
        self.name = (name or default_name())[:128]
        self.echo = echo or log.info
        self.handle_signals = handle_signals
        self.max_backoff = max_backoff
        self.clock = clock
        self.schedules = [_Schedule(item) for item in self.tasks]
        self.stopping = False
        self.database_down = False
        self.started_at = utcnow()
        self._wake = threading.Event()
        self._once = False

    # -- lifecycle ---------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop after the current task (safe from a signal handler or a thread)."""
        self.stopping = True
        self._wake.set()

    def run(self, once: bool = False) -> int:
        """Run until stopped (exit status 0), or one pass of every task when `once` (1 if one failed)."""
        previous = self._install_signals()
        try:
            if once:
                self._once = True
                return 0 if self.run_pass(force=True) else 1
            log.info("worker %s started; tasks: %s", self.name, ", ".join(self.tasks.names()) or "none")
            while not self.stopping:
                started = self.clock()
                self.run_pass()
                if self.stopping:
                    break
                self._wake.wait(self._pause(started))
                self._wake.clear()
            return 0
        finally:
            self._restore_signals(previous)
            self._mark_stopped()
            log.info("worker %s stopped", self.name)

    def run_pass(self, force: bool = False) -> bool:
        """Run the due tasks (all when `force`); False if one failed or the database is down."""
        now = self.clock()
        due = [schedule for schedule in self.schedules if force or schedule.next_due <= now]
        ok = True
        for schedule in due:
            if self.stopping:
                break
            if not self.beat(schedule.task.name):
                return False
            ok = self._run(schedule) and ok
            if self.database_down:
                return False
        return self.beat(None) and ok

    def _pause(self, pass_started: float) -> float:
        """Sleep until the next task is due, but at most `interval` (the heartbeat's period)."""
        if self.database_down:
            return self.interval
        wake_at = pass_started + self.interval
        if self.schedules:
            wake_at = min(wake_at, min(schedule.next_due for schedule in self.schedules))
        return max(0.0, wake_at - self.clock())

    # -- tasks -------------------------------------------------------------------

    def _run(self, schedule: _Schedule) -> bool:
        item = schedule.task
        context = TaskContext(self.app, self.name, item.name, self.echo, self)
        started = self.clock()
        try:
            with self.app.app_context():
                item(context)
        except Exception as error:  # a task's failure must never stop the worker
            if is_outage(error):
                self._database_failed(error)
                schedule.next_due = self.clock()  # retried as soon as the database answers
                return False
            schedule.failures += 1
            delay = min(item.every * 2**schedule.failures, self.max_backoff)
            schedule.next_due = self.clock() + delay
            schedule.error = f"{type(error).__name__}: {error}"[:500]
            if schedule.failures == 1:
                log.exception("task %s failed; retrying in %.1f s", item.name, delay)
            else:
                log.error(
                    "task %s failed again (%d in a row); retrying in %.1f s: %s",
                    item.name, schedule.failures, delay, schedule.error,
                )
            return False
        self._database_answered()
        if schedule.failures:
            log.info("task %s succeeded after %d failures", item.name, schedule.failures)
        schedule.failures = 0
        schedule.error = None
        schedule.next_due = started + item.every
        return True

    # -- heartbeat and database health --------------------------------------------

    def last_error(self) -> str | None:
        """The errors of the tasks that are failing now, for the heartbeat row."""
        errors = [f"{s.task.name}: {s.error}" for s in self.schedules if s.error]
        return "; ".join(errors)[:2000] or None

    def beat(self, current_task: str | None) -> bool:
        """Write this worker's heartbeat row; False (logged once) when the database is down."""
        try:
            with self.app.app_context():
                row = db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == self.name))
                if row is None:
                    row = WorkerHeartbeat(name=self.name, started_at=self.started_at)
                    db.session.add(row)
                row.beat_at = utcnow()
                row.current_task = current_task
                row.last_error = self.last_error()
                row.stopped_at = None
                db.session.commit()
        except Exception as error:  # whatever stops the heartbeat, the worker keeps retrying
            self._database_failed(error)
            return False
        self._database_answered()
        return True

    def _mark_stopped(self) -> None:
        try:
            with self.app.app_context():
                row = db.session.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == self.name))
                if row is not None:
                    row.stopped_at = row.beat_at = utcnow()
                    row.current_task = None
                    db.session.commit()
        except Exception as error:  # best effort on the way out
            log.debug("could not record the worker's stop: %s", error)

    def _database_failed(self, error: BaseException) -> None:
        if not self.database_down:
            text = str(getattr(error, "orig", None) or error)
            reason = text.splitlines()[0] if text else ""
            retry = "" if self._once else f"; retrying every {self.interval:.1f} s"
            log.warning(
                "database unavailable or not migrated (%s: %s)%s", type(error).__name__, reason, retry
            )
        self.database_down = True

    def _database_answered(self) -> None:
        if self.database_down:
            log.warning("database reachable again; resuming tasks")
        self.database_down = False

    # -- signals ---------------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any] | None:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return None
        previous = {}
        for number in (signal.SIGTERM, signal.SIGINT):
            previous[number] = signal.getsignal(number)
            signal.signal(number, self._on_signal)
        return previous

    def _restore_signals(self, previous: dict[int, Any] | None) -> None:
        for number, handler in (previous or {}).items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: Any) -> None:
        if self.stopping:
            log.warning("second %s: stopping now", signal.Signals(number).name)
            raise SystemExit(1)
        log.info("%s received: finishing the current task, then stopping", signal.Signals(number).name)
        self.stop()


def prune_heartbeats(keep: timedelta = HEARTBEAT_RETENTION) -> int:
    """Delete the heartbeat rows of workers silent for longer than `keep` (restarted dynos)."""
    result = db.session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < utcnow() - keep))
    db.session.commit()
    return result.rowcount or 0
