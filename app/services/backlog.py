"""Backlog thresholds: queues deeper than their setting make /health/ready "degraded" and alert once.

A threshold of 0 turns its check off. /health/ready only reads (a load balancer
polls it); the worker task `alert-backlogs` (app/tasks.py) raises one admin alert
per crossing: `backlog:<queue>:<n>`, the n-th time that queue crossed. When the
queue is back under its threshold the episode is closed by a `backlog.cleared`
audit entry naming the alert's cause, so the next crossing raises alert n + 1.
Two workers at once raise the same cause, which raise_alert keeps to one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from pausa_gate.state import SYSTEM
from sqlalchemy import select

from ..extensions import db
from ..i18n import default_language
from ..models import AdminAlert, AuditEntry
from . import alerts, audit, queues


@dataclass(frozen=True)
class Threshold:
    queue: str
    setting: str
    alerts: bool  # dead letters already alert one by one (app/services/alerts.py)


THRESHOLDS = (
    Threshold("deliveries_queued", "BACKLOG_WARN_EMAILS", alerts=True),
    Threshold("webhook_inbox_pending", "BACKLOG_WARN_WEBHOOKS", alerts=True),
    Threshold("outbound_webhooks_queued", "BACKLOG_WARN_WEBHOOKS", alerts=True),
    Threshold("webhook_dead_letters", "DEAD_LETTER_WARN", alerts=False),
)


def crossed(depths: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The queues at or over their threshold, each with its depth, threshold and setting."""
    config = current_app.config
    found = {}
    for threshold in THRESHOLDS:
        limit = int(config.get(threshold.setting) or 0)
        depth = depths.get(threshold.queue)
        if limit > 0 and depth is not None and depth >= limit:
            found[threshold.queue] = {"depth": depth, "threshold": limit, "setting": threshold.setting}
    return found


def check(depths: dict[str, int]) -> dict[str, Any]:
    """The readiness check: not ok (never critical) while any queue is at or over its threshold."""
    over = crossed(depths)
    return {"ok": not over, "critical": False, "crossed": over}


def _open_episode(queue: str) -> AdminAlert | None:
    """The alert of this queue's current crossing, unless a `backlog.cleared` entry closed it."""
    latest = db.session.scalar(
        select(AdminAlert).where(AdminAlert.cause.like(f"backlog:{queue}:%")).order_by(AdminAlert.id.desc()).limit(1)
    )
    if latest is None:
        return None
    cleared = db.session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.action == "backlog.cleared", AuditEntry.target == f"backlog:{queue}"
        ).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    if cleared and cleared.get("cause") == latest.cause:
        return None
    return latest


def alert_backlogs() -> list[str]:
    """Raise one alert per queue that crossed its threshold, close the episodes that went back under.

    Returns the causes of the alerts raised now.
    """
    depths = queues.queue_depths()
    over = crossed(depths)
    raised = []
    for threshold in THRESHOLDS:
        if not threshold.alerts:
            continue
        queue = threshold.queue
        episode = _open_episode(queue)
        if queue in over and episode is None:
            latest = db.session.scalar(
                select(AdminAlert.cause).where(AdminAlert.cause.like(f"backlog:{queue}:%"))
                .order_by(AdminAlert.id.desc()).limit(1)
            )
            number = int(latest.rsplit(":", 1)[1]) + 1 if latest else 1
            db.session.commit()
            detail = over[queue]
            with force_locale(default_language()):  # the operator's language, like every alert
                summary = gettext(
                    "The %(queue)s queue holds %(depth)s items, at or over %(setting)s=%(threshold)s.",
                    queue=queue, depth=detail["depth"], setting=detail["setting"],
                    threshold=detail["threshold"],
                )
            cause = f"backlog:{queue}:{number}"
            if alerts.raise_alert(cause, "backlog", summary):
                raised.append(cause)
        elif queue not in over and episode is not None:
            limit = int(current_app.config.get(threshold.setting) or 0)
            audit.record("backlog.cleared", SYSTEM, f"backlog:{queue}",
                         {"cause": episode.cause, "depth": depths.get(queue), "threshold": limit})
            db.session.commit()
        else:
            db.session.commit()
    return raised
