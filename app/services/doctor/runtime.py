"""Checks of the running system: database, migrations, Redis, worker, clock, audit trail, queues."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from pausa_gate.windows import utcnow
from sqlalchemy import inspect, text

from ...database import bounded
from ...extensions import db
from .. import audit, backlog, health, notifications, queues, webhooks
from .results import FAIL, OK, SKIP, WARN, Result
from .settings import check_settings

# The newest audit entries whose links the doctor checks; `flask audit verify` walks them all.
AUDIT_ENTRIES_CHECKED = 10_000
CLOCK_WARN_SECONDS = 2.0
CLOCK_FAIL_SECONDS = 30.0
# Queues reported by their own checks rather than as a backlog.
NOT_BACKLOGS = frozenset({"mail_circuit_open", "webhook_dead_letters"})


def _describe(error: BaseException) -> str:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()
    return (detail[0] if detail else type(error).__name__)[:300]


def check_database() -> Result:
    """The database answers within HEALTH_CHECK_TIMEOUT."""
    outcome = health.check_database()
    if not outcome["ok"]:
        return Result("database", FAIL, f"unreachable ({outcome['error']}): check DATABASE_URL and that "
                                        "the database server is up and accepts connections")
    return Result("database", OK, f"{db.engine.dialect.name} answered in {outcome['latency_ms']:.0f} ms")


def _migration_heads() -> tuple[str, ...]:
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", current_app.extensions["migrate"].directory)
    return tuple(ScriptDirectory.from_config(alembic).get_heads())


def check_migrations() -> Result:
    """The database is at the newest migration in migrations/."""
    heads = _migration_heads()
    latest = ", ".join(heads)
    # Alembic announces its dialect at INFO on every context; scripts parse the doctor's output.
    alembic_log = logging.getLogger("alembic.runtime.migration")
    level = alembic_log.level
    alembic_log.setLevel(logging.WARNING)
    try:
        with bounded(current_app.config["HEALTH_CHECK_TIMEOUT"]), db.engine.connect() as connection:
            current = tuple(MigrationContext.configure(connection).get_current_heads())
            has_tables = inspect(connection).has_table("maintenance_state")
    except Exception as error:  # reported, never raised
        return Result("migrations", FAIL, f"could not read the migration version ({_describe(error)})")
    finally:
        alembic_log.setLevel(level)
    if not current:
        if has_tables:
            return Result("migrations", WARN, "the tables exist but no migration is recorded (built without "
                                              f"`flask db upgrade`?): if they match {latest}, run "
                                              f"`flask db stamp {latest}`")
        return Result("migrations", FAIL, f"the database is empty: run `flask db upgrade` (to {latest})")
    if set(current) == set(heads):
        return Result("migrations", OK, f"at the latest migration ({latest})")
    known = {revision for revision in current if _is_known(revision)}
    if len(known) < len(current):
        return Result("migrations", FAIL, f"the database is at {', '.join(current)}, unknown to this code "
                                          f"(its latest is {latest}): deploy the release that migrated it")
    return Result("migrations", FAIL, f"the database is at {', '.join(current)}, the latest is {latest}: "
                                      "run `flask db upgrade`")


def _is_known(revision: str) -> bool:
    alembic = AlembicConfig()
    alembic.set_main_option("script_location", current_app.extensions["migrate"].directory)
    try:
        return ScriptDirectory.from_config(alembic).get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown revision
        return False


def _has_tables() -> bool:
    try:
        with bounded(current_app.config["HEALTH_CHECK_TIMEOUT"]), db.engine.connect() as connection:
            return inspect(connection).has_table("worker_heartbeats")
    except Exception:  # the migrations line already says what is wrong
        return False


def check_redis(config: Mapping[str, Any]) -> Result:
    """Redis answers a PING within REDIS_TIMEOUT, when REDIS_URL is set."""
    if not config.get("REDIS_URL"):
        return Result("redis", OK, "not configured (optional)")
    try:
        outcome = health.check_redis(config["REDIS_URL"], config["REDIS_TIMEOUT"])
    except ValueError as error:  # a URL redis-py cannot read: the redis_settings line says how to fix it
        return Result("redis", FAIL, f"REDIS_URL cannot be used ({error})")
    if not outcome["ok"]:
        return Result("redis", FAIL, f"unreachable ({outcome['error']}): check REDIS_URL and that Redis is "
                                     "up; meanwhile changes reach other instances through the database only")
    return Result("redis", OK, f"answered in {outcome['latency_ms']:.0f} ms")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def check_worker(now: datetime) -> Result:
    """A `flask worker` has written a heartbeat within WORKER_STALE_SECONDS."""
    stale_after = current_app.config["WORKER_STALE_SECONDS"]
    outcome = health.check_worker(stale_after, now)
    start = "start `flask worker` (Procfile: worker); it ends windows, sends emails and webhooks"
    if outcome.get("error") == "no worker heartbeat yet":
        return Result("worker", FAIL, f"no worker has ever reported: {start}")
    if outcome.get("error"):
        return Result("worker", FAIL, f"could not read the heartbeats ({outcome['error']})")
    if outcome["ok"]:
        return Result("worker", OK, f"{outcome['workers']} alive, last heartbeat "
                                    f"{_duration(outcome['age_seconds'])} ago")
    age = _duration(outcome["age_seconds"])
    if outcome["stopped"]:
        return Result("worker", FAIL, f"the last worker ({outcome['name']}) stopped {age} ago: {start}")
    return Result("worker", FAIL, f"no worker has reported for {age} (WORKER_STALE_SECONDS="
                                  f"{stale_after:g}): {start}")


def check_clock(now: Callable[[], datetime] = utcnow) -> Result:
    """This machine's clock agrees with the database server's (PostgreSQL); SQLite shares it."""
    if db.engine.dialect.name != "postgresql":
        return Result("clock", OK, "SQLite runs on this machine's clock: nothing to compare")
    try:
        with bounded(current_app.config["HEALTH_CHECK_TIMEOUT"]):
            before = now()
            server = db.session.scalar(text("SELECT clock_timestamp()"))
            after = now()
            db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return Result("clock", FAIL, f"could not read the database's clock ({_describe(error)})")
    skew = (server - (before + (after - before) / 2)).total_seconds()
    said = f"the database's clock is {skew:+.1f} s from this machine's"
    fix = "sync both machines with NTP (timedatectl set-ntp true); signed webhooks and windows depend on it"
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Result("clock", FAIL, f"{said}: {fix}")
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Result("clock", WARN, f"{said}: {fix}")
    return Result("clock", OK, said)


def check_audit_chain() -> Result:
    """The newest audit entries still chain (a full walk is `flask audit verify`)."""
    try:
        report, total = audit.verify_recent(AUDIT_ENTRIES_CHECKED)
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return Result("audit_chain", FAIL, f"could not read the audit trail ({_describe(error)})")
    if not report.ok:
        return Result("audit_chain", FAIL, f"broken at entry {report.broken_id}: {report.problem}; the trail "
                                           "was changed outside Pausa: run `flask audit verify` and keep a "
                                           "copy (`flask audit export`) before anything else")
    if total > AUDIT_ENTRIES_CHECKED:
        return Result("audit_chain", OK, f"the newest {AUDIT_ENTRIES_CHECKED} of {total} entries chain "
                                         "(`flask audit verify` walks them all)")
    return Result("audit_chain", OK, f"all {total} entries chain")


def check_backlogs() -> Result:
    """No queue is at or over its backlog threshold (the ones that make /health/ready "degraded")."""
    try:
        depths = queues.queue_depths()
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return Result("backlogs", FAIL, f"could not count the queues ({_describe(error)})")
    over = {name: found for name, found in backlog.crossed(depths).items() if name not in NOT_BACKLOGS}
    if over:
        listed = ", ".join(f"{name}={found['depth']} (at or over {found['setting']}={found['threshold']})"
                           for name, found in sorted(over.items()))
        return Result("backlogs", WARN, f"{listed}: check that the worker runs and read its log; the mail "
                                        "circuit line says if SendGrid is the cause")
    return Result("backlogs", OK, "every queue under its threshold "
                                  "(BACKLOG_WARN_EMAILS, BACKLOG_WARN_WEBHOOKS)")


def check_mail_circuit(config: Mapping[str, Any]) -> Result:
    """The mail circuit breaker is closed (open: SendGrid kept failing, emails wait)."""
    if config.get("MAIL_BACKEND") == "disabled":
        return Result("mail_circuit", OK, "email is disabled")
    outcome = health.check_mail_circuit()
    if outcome.get("error"):
        return Result("mail_circuit", FAIL, f"could not read the circuit breaker ({outcome['error']})")
    if outcome["state"] == "open":
        last_error = notifications.circuit_state()["last_error"] or "unknown"
        db.session.commit()
        return Result("mail_circuit", FAIL, f"open after {outcome['failures']} failed SendGrid calls (last: "
                                            f"{last_error}); emails wait and a trial runs at "
                                            f"{outcome['retry_at']}: check SENDGRID_API_KEY and "
                                            "SendGrid's status")
    if outcome["state"] == "half_open":
        return Result("mail_circuit", WARN, "half-open: a trial batch is testing SendGrid after failures")
    return Result("mail_circuit", OK, "closed")


def check_dead_letters() -> Result:
    """No webhook event has run out of attempts."""
    try:
        dead = webhooks.dead_count()
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return Result("dead_letters", FAIL, f"could not count them ({_describe(error)})")
    if dead:
        events = f"{dead} webhook event{'s' if dead != 1 else ''}"
        return Result("dead_letters", WARN, f"{events} ran out of attempts: "
                                            "fix the cause in the worker's log, then Replay them on the "
                                            "dashboard's webhook panel")
    return Result("dead_letters", OK, "none")


# Checks that need the database, in the order they are printed; skipped when it does not answer.
DATABASE_CHECKS = ("migrations", "worker", "clock", "audit_chain", "backlogs", "mail_circuit", "dead_letters")


def run_checks(now: datetime | None = None) -> list[Result]:
    """Run every check in the app's context, settings first; database checks only if it answers."""
    config = current_app.config
    now = now or utcnow()
    results = check_settings(config)
    database = check_database()
    results.append(database)
    results.append(check_redis(config))
    if database.status == FAIL:
        db.session.rollback()
        return results + [Result(name, SKIP, "skipped: database unreachable") for name in DATABASE_CHECKS]
    migrations = check_migrations()
    results.append(migrations)
    if migrations.status == FAIL and not _has_tables():
        return results + [Result(name, SKIP, "skipped: database not migrated")
                          for name in DATABASE_CHECKS if name != "migrations"]
    results += [
        check_worker(now),
        check_clock(),
        check_audit_chain(),
        check_backlogs(),
        check_mail_circuit(config),
        check_dead_letters(),
    ]
    return results
