"""Readiness checks, shared by /health/ready, the dashboard's health panel and /metrics.

Only the database and the gate's state are critical (503): Redis is optional,
and a silent worker delays side effects (audit of automatic ends, emails) but
never stops the web from serving or enforcing maintenance.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.cache import StateCache
from pausa_gate.windows import utcnow, window_in_effect
from sqlalchemy import func, select, text

from ..database import bounded
from ..extensions import db
from ..models import WorkerHeartbeat
from ..redis_connections import connect
from . import backlog, notifications, queues, webhook_rejections, webhooks


@dataclass(frozen=True)
class Report:
    checks: dict[str, dict[str, Any]]

    @property
    def healthy(self) -> bool:
        """False when a critical check failed: the instance should not get traffic."""
        return all(check["ok"] for check in self.checks.values() if check["critical"])

    @property
    def status(self) -> str:
        if not self.healthy:
            return "unavailable"
        return "ok" if all(check["ok"] for check in self.checks.values()) else "degraded"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _describe(error: BaseException) -> str:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"{type(error).__name__}: {detail[0]}"[:300] if detail else type(error).__name__


def check_database() -> dict[str, Any]:
    started = time.perf_counter()
    try:
        with bounded(current_app.config["HEALTH_CHECK_TIMEOUT"]):
            db.session.execute(text("SELECT 1"))
            db.session.commit()
    except Exception as error:  # a health check reports failures, it never raises
        db.session.rollback()
        return {"ok": False, "critical": True, "error": _describe(error)}
    return {"ok": True, "critical": True, "latency_ms": _ms(started)}


def check_redis(url: str, timeout: float) -> dict[str, Any]:
    client = connect(url, current_app.config, socket_timeout=timeout, socket_connect_timeout=timeout)
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as error:  # Redis is optional: report, do not fail readiness
        return {"ok": False, "critical": False, "error": _describe(error)}
    finally:
        client.close()
    return {"ok": True, "critical": False, "latency_ms": _ms(started)}


def check_worker(stale_after: float, now: datetime) -> dict[str, Any]:
    """Report the newest heartbeat's age; a missing or old one is not ok (but not critical)."""
    check: dict[str, Any] = {"ok": False, "critical": False, "stale_after_seconds": stale_after}
    try:
        newest = db.session.scalar(select(WorkerHeartbeat).order_by(WorkerHeartbeat.beat_at.desc()).limit(1))
        alive = db.session.scalar(
            select(func.count()).select_from(WorkerHeartbeat).where(
                WorkerHeartbeat.stopped_at.is_(None),
                WorkerHeartbeat.beat_at >= now - timedelta(seconds=stale_after),
            )
        )
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return {**check, "age_seconds": None, "error": _describe(error)}
    if newest is None:
        return {**check, "age_seconds": None, "workers": 0, "error": "no worker heartbeat yet"}
    age = max(0.0, (now - newest.beat_at).total_seconds())
    return {
        **check,
        "ok": age <= stale_after and newest.stopped_at is None,
        "age_seconds": round(age, 1),
        "workers": alive or 0,
        "name": newest.name,
        "current_task": newest.current_task,
        "stopped": newest.stopped_at is not None,
        "last_error": newest.last_error,
    }


def check_queues() -> dict[str, Any]:
    try:
        depths = queues.queue_depths()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return {"ok": False, "critical": False, "depths": {}, "error": _describe(error)}
    return {"ok": True, "critical": False, "depths": depths}


def check_mail_circuit() -> dict[str, Any]:
    """The mail circuit breaker: open means emails wait (not critical: the site serves)."""
    try:
        circuit = notifications.circuit_state()
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return {"ok": False, "critical": False, "state": None, "error": _describe(error)}
    retry_at = circuit["retry_at"]
    return {
        "ok": circuit["state"] != "open",
        "critical": False,
        "state": circuit["state"],
        "failures": circuit["failures"],
        "retry_at": retry_at.isoformat() if retry_at else None,
    }


def check_mail() -> dict[str, Any]:
    """Which mail backend runs: `disabled` says so (the operator's choice), console/memory send nothing."""
    backend = current_app.config.get("MAIL_BACKEND")
    return {
        "ok": True,
        "critical": False,
        "backend": backend,
        "sends_email": backend == "sendgrid",
        "subscriptions": backend != "disabled",
    }


def webhook_setup() -> dict[str, Any]:
    """Which receivers have secrets, and whether outbound webhooks are off, signed or not configured."""
    config = current_app.config
    receivers = {provider: bool(config.get(setting)) for provider, setting in webhooks.SECRETS.items()}
    if not config.get("OUTBOUND_WEBHOOK_URLS"):
        outbound = "off"
    else:
        outbound = "signed" if config.get("OUTBOUND_WEBHOOK_SECRET") else "not_configured"
    return {"receivers": receivers, "outbound": outbound}


def check_webhooks(now: datetime) -> dict[str, Any]:
    """Which receivers are configured, outbound signing, and last hour's rejections.

    Not ok when events were refused for their timestamp in the last hour: a skewed
    clock refuses every signed event, and the senders only see 400s.
    """
    check: dict[str, Any] = {"critical": False, **webhook_setup()}
    outbound = check["outbound"]
    try:
        rejected = webhook_rejections.recent(webhook_rejections.tracker(), now)
        db.session.commit()
    except Exception as error:  # reported, never raised
        db.session.rollback()
        return {**check, "ok": False, "rejected_last_hour": None, "error": _describe(error)}
    return {**check, "ok": rejected["timestamp"] == 0 and outbound != "not_configured",
            "rejected_last_hour": rejected}


def check_state(cache: StateCache, now: datetime) -> dict[str, Any]:
    """The gate's state: where it comes from, how old it is; stale when the database did not confirm it."""
    state = cache.get()
    return {
        **cache.describe(now),
        "ok": not state.stale,
        "critical": True,
        "active": window_in_effect(state, now) is not None,
    }


def readiness(cache: StateCache, now: datetime | None = None) -> Report:
    """Run every check; those needing the database are skipped when it does not answer."""
    now = now or utcnow()
    config = current_app.config
    stale_after = config["WORKER_STALE_SECONDS"]
    checks: dict[str, dict[str, Any]] = {"database": check_database()}
    if config.get("REDIS_URL"):
        checks["redis"] = check_redis(config["REDIS_URL"], config["REDIS_TIMEOUT"])
    if checks["database"]["ok"]:
        checks["worker"] = check_worker(stale_after, now)
        checks["queues"] = check_queues()
        checks["backlog"] = backlog.check(checks["queues"]["depths"])
        checks["mail_circuit"] = check_mail_circuit()
        checks["webhooks"] = check_webhooks(now)
    else:
        skipped = {"ok": False, "critical": False, "error": "database unavailable"}
        checks["worker"] = {**skipped, "age_seconds": None, "stale_after_seconds": stale_after}
        checks["queues"] = {**skipped, "depths": {}}
        checks["backlog"] = {**skipped, "crossed": {}}
        checks["mail_circuit"] = {**skipped, "state": None}
        checks["webhooks"] = {**skipped, **webhook_setup(), "rejected_last_hour": None}
    checks["mail"] = check_mail()
    checks["maintenance_state"] = check_state(cache, now)
    return Report(checks)
