"""Retention: delete the finished rows of the tables that only grow (docs/retention.md).

Two settings, 0 keeping rows forever: RETENTION_WEBHOOKS_DAYS (processed inbound webhook events,
finished outbound webhook rows, webhook rejection counts) and RETENTION_NOTIFICATIONS_DAYS
("we're back" emails, notices, admin alerts that were sent or given up). Rows that may still
change or need an admin (pending events, dead letters, queued or sending emails, alerts still
being retried) are never deleted, nor are a planned or active window's notices, which decide who
hears of its changes. The audit trail is never pruned; subscribers' addresses are erased by
`subscriptions.erase_expired_subscribers`.

Deletion goes `id IN (SELECT id ... LIMIT n)` (SQLite and PostgreSQL alike), n rows per
statement, and at most `max_batches` statements per table per run, so one run is a short
transaction however large the backlog; the caller runs again while `more` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import SYSTEM, Actor
from sqlalchemy import and_, delete, exists, func, or_, select, tuple_

from ..extensions import db
from ..models import (
    AdminAlert,
    Delivery,
    MaintenanceWindow,
    Notice,
    OutboundWebhook,
    WebhookEvent,
    WebhookRejection,
    utcnow,
)
from . import audit
from .alerts import MAX_ATTEMPTS

BATCH_SIZE = 5000
MAX_BATCHES = 20  # per table and run: at most 100,000 rows in one transaction with the defaults
# Statuses after which a row never changes again.
FINISHED_EMAIL = ("sent", "skipped", "failed", "uncertain")
FINISHED_OUTBOUND = ("sent", "failed", "cancelled")
LIVE_WINDOW = ("scheduled", "active")


@dataclass(frozen=True)
class Table:
    """One prunable table: its name in reports, its setting, its key, and its old finished rows."""

    model: Any
    setting: str
    old: Callable[[datetime], Any]  # the WHERE clause: finished and made before the cutoff
    key: tuple[str, ...] = ("id",)

    @property
    def name(self) -> str:
        return self.model.__tablename__


def _window_over(window_id: Any) -> Any:
    """True when the row's window is neither planned nor active (or it has none)."""
    live = exists().where(MaintenanceWindow.id == window_id, MaintenanceWindow.status.in_(LIVE_WINDOW))
    return or_(window_id.is_(None), ~live)


def _alert_finished() -> Any:
    """Sent, or given up after ALERT_MAX_ATTEMPTS (app/services/alerts.py)."""
    max_attempts = int(current_app.config.get("ALERT_MAX_ATTEMPTS", MAX_ATTEMPTS))
    return or_(AdminAlert.sent_at.is_not(None), AdminAlert.attempts >= max_attempts)


TABLES = (
    Table(
        WebhookEvent, "RETENTION_WEBHOOKS_DAYS",
        lambda cutoff: and_(
            WebhookEvent.status == "processed",
            func.coalesce(WebhookEvent.processed_at, WebhookEvent.received_at) < cutoff,
        ),
    ),
    Table(
        OutboundWebhook, "RETENTION_WEBHOOKS_DAYS",
        lambda cutoff: and_(
            OutboundWebhook.status.in_(FINISHED_OUTBOUND), OutboundWebhook.created_at < cutoff,
            _window_over(OutboundWebhook.window_id),
        ),
    ),
    Table(
        WebhookRejection, "RETENTION_WEBHOOKS_DAYS", lambda cutoff: WebhookRejection.minute < cutoff,
        key=("provider", "reason", "minute"),
    ),
    Table(
        Delivery, "RETENTION_NOTIFICATIONS_DAYS",
        lambda cutoff: and_(Delivery.status.in_(FINISHED_EMAIL), Delivery.created_at < cutoff),
    ),
    Table(
        Notice, "RETENTION_NOTIFICATIONS_DAYS",
        lambda cutoff: and_(
            Notice.status.in_(FINISHED_EMAIL), Notice.created_at < cutoff, _window_over(Notice.window_id),
        ),
    ),
    Table(
        AdminAlert, "RETENTION_NOTIFICATIONS_DAYS",
        lambda cutoff: and_(_alert_finished(), AdminAlert.created_at < cutoff),
    ),
)


def _delete_batch(table: Table, old: Any, batch_size: int) -> int:
    """Delete up to `batch_size` old rows of one table with one statement; return how many went."""
    columns = [getattr(table.model, name) for name in table.key]
    batch = select(*columns).where(old).limit(batch_size)
    key = columns[0] if len(columns) == 1 else tuple_(*columns)
    result = db.session.execute(
        delete(table.model).where(key.in_(batch)).execution_options(synchronize_session=False)
    )
    return max(result.rowcount or 0, 0)


@dataclass
class PruneReport:
    """Rows deleted (or, in a dry run, that would be) per table; `more` when a cap stopped a table."""

    counts: dict[str, int] = field(default_factory=dict)
    more: bool = False
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def retention_days() -> dict[str, int]:
    """Return each table's retention in days (0: kept forever)."""
    config = current_app.config
    return {table.name: max(int(config[table.setting]), 0) for table in TABLES}


def prune(
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    dry_run: bool = False,
) -> PruneReport:
    """Delete finished rows past their retention in one transaction; audit `retention.pruned` with it."""
    now = now or utcnow()
    days = retention_days()
    report = PruneReport(dry_run=dry_run)
    for table in TABLES:
        if not days[table.name]:
            continue
        old = table.old(now - timedelta(days=days[table.name]))
        if dry_run:
            report.counts[table.name] = db.session.scalar(
                select(func.count()).select_from(table.model).where(old)
            ) or 0
            continue
        deleted = 0
        for _ in range(max_batches):
            count = _delete_batch(table, old, batch_size)
            deleted += count
            if count < batch_size:
                break
        else:
            report.more = True
        report.counts[table.name] = deleted
    if dry_run or not report.total:
        db.session.rollback()
        return report
    audit.record(
        "retention.pruned",
        actor,
        None,
        {"deleted": {name: count for name, count in report.counts.items() if count},
         "retention_days": {name: days[name] for name in report.counts}},
    )
    db.session.commit()
    return report


def prune_all(
    now: datetime | None = None,
    actor: Actor = SYSTEM,
    batch_size: int = BATCH_SIZE,
    max_batches: int = MAX_BATCHES,
    should_stop: Callable[[], bool] = lambda: False,
) -> PruneReport:
    """Run `prune` until nothing past its retention is left (or told to stop); add up the counts."""
    total = PruneReport()
    while True:
        report = prune(now, actor, batch_size, max_batches)
        for name, count in report.counts.items():
            total.counts[name] = total.counts.get(name, 0) + count
        if not report.more or should_stop():
            total.more = report.more
            return total
