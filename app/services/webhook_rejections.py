"""Rejected inbound webhooks: counted, logged sparingly, and summed for the dashboard.

A skewed server clock rejects every signed event for its timestamp, and the
senders only see 400s: this makes it visible. Cheap on the webhook path: a
rejection is counted in this process's memory; the counts go to the
`webhook_rejections` table (per provider, reason and minute) at most every
FLUSH_SECONDS per process, in one transaction, so a flood of bad requests
costs one small write every few seconds, not one per request. Logging is
limited the same way: one line per provider and reason, then a summary at most
every LOG_EVERY_SECONDS. /metrics counts every rejection as it happens
(`pausa_webhook_rejections_total{provider,reason}`, app/metrics.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.windows import utcnow
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..extensions import WEBHOOK_REJECTIONS_KEY, db
from ..models import WebhookRejection

log = logging.getLogger("pausa.webhooks")

REASONS = ("malformed", "stale_timestamp", "future_timestamp", "signature", "not_configured", "too_large")
TIMESTAMP_REASONS = ("stale_timestamp", "future_timestamp")
FLUSH_SECONDS = 10.0
LOG_EVERY_SECONDS = 60.0
KEEP = timedelta(days=1)  # rows older than this are deleted at the next flush
MAX_PENDING = 5000  # keys kept in memory while the database does not answer


def reason_of(value: str | None) -> str:
    """Map a reason to one of REASONS, so the metric's labels stay few."""
    return value if value in REASONS else "malformed"


class RejectionTracker:
    """This process's rejections not yet written, and its log limiter."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str, datetime], list[Any]] = {}
        self._last_flush: float | None = None
        self._logged: dict[tuple[str, str], tuple[float, int]] = {}

    def note(self, provider: str, reason: str, skew: float | None, detail: str, now: datetime) -> bool:
        """Count one rejection; True when it is time to write the counts to the database."""
        minute = now.replace(second=0, microsecond=0)
        with self._lock:
            entry = self._pending.setdefault((provider, reason, minute), [0, None])
            entry[0] += 1
            if skew is not None:
                entry[1] = skew
            self._log(provider, reason, skew, detail)
            due = self._last_flush is None or self._clock() - self._last_flush >= FLUSH_SECONDS
            if due:
                self._last_flush = self._clock()
            return due

    def _log(self, provider: str, reason: str, skew: float | None, detail: str) -> None:
        """Log the first rejection of a kind, then at most one line per LOG_EVERY_SECONDS with the count."""
        key = (provider, reason)
        logged_at, suppressed = self._logged.get(key, (None, 0))
        moment = self._clock()
        if logged_at is not None and moment - logged_at < LOG_EVERY_SECONDS:
            self._logged[key] = (logged_at, suppressed + 1)
            return
        self._logged[key] = (moment, 0)
        clock = ""
        if skew is not None and reason in TIMESTAMP_REASONS:
            clock = f"; this server's clock is {skew:+.0f} s from the sender's timestamp (check NTP)"
        more = f" ({suppressed} more like it since the last line)" if suppressed else ""
        log.warning("webhook %s rejected, %s: %s%s%s", provider, reason, detail, clock, more)

    def take(self) -> dict[tuple[str, str, datetime], list[Any]]:
        with self._lock:
            pending, self._pending = self._pending, {}
            return pending

    def give_back(self, pending: dict[tuple[str, str, datetime], list[Any]], now: datetime) -> None:
        """Keep counts a failed write could not store, dropping those older than an hour."""
        with self._lock:
            for key, (count, skew) in pending.items():
                if key[2] < now - timedelta(hours=1) or len(self._pending) >= MAX_PENDING:
                    continue
                entry = self._pending.setdefault(key, [0, None])
                entry[0] += count
                entry[1] = entry[1] if entry[1] is not None else skew

    def pending_since(self, since: datetime) -> list[tuple[str, str, int, float | None]]:
        with self._lock:
            return [
                (provider, reason, count, skew)
                for (provider, reason, minute), (count, skew) in self._pending.items() if minute >= since
            ]


def tracker() -> RejectionTracker:
    """This process's rejection counts not yet written to the database."""
    return current_app.extensions.setdefault(WEBHOOK_REJECTIONS_KEY, RejectionTracker())


def record(tracker: RejectionTracker, provider: str, reason: str, skew: float | None, detail: str,
           now: datetime | None = None) -> None:
    """Count a rejection; write this process's counts when FLUSH_SECONDS have passed (never raises)."""
    now = now or utcnow()
    if tracker.note(provider, reason_of(reason), skew, detail, now):
        flush(tracker, now)


def flush(tracker: RejectionTracker, now: datetime | None = None) -> int:
    """Add this process's pending counts to the table in one transaction; keep them when it fails."""
    now = now or utcnow()
    pending = tracker.take()
    if not pending:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    try:
        for (provider, reason, minute), (count, skew) in sorted(pending.items()):
            statement = insert(WebhookRejection).values(
                provider=provider, reason=reason, minute=minute, count=count, skew_seconds=skew
            )
            statement = statement.on_conflict_do_update(
                index_elements=["provider", "reason", "minute"],
                set_={
                    "count": WebhookRejection.count + statement.excluded.count,
                    "skew_seconds": func.coalesce(
                        statement.excluded.skew_seconds, WebhookRejection.skew_seconds
                    ),
                },
            )
            db.session.execute(statement)
        db.session.execute(delete(WebhookRejection).where(WebhookRejection.minute < now - KEEP))
        db.session.commit()
    except Exception as error:  # counting must never break a webhook answer
        db.session.rollback()
        tracker.give_back(pending, now)
        log.warning("webhook rejections not recorded yet: %s", error)
        return 0
    return sum(count for count, _ in pending.values())


def recent(tracker: RejectionTracker | None = None, now: datetime | None = None,
           window: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """Rejections in the last hour (every process's written counts plus this one's pending ones)."""
    now = now or utcnow()
    since = (now - window).replace(second=0, microsecond=0)
    rows = db.session.execute(
        select(WebhookRejection.provider, WebhookRejection.reason, WebhookRejection.count,
               WebhookRejection.skew_seconds, WebhookRejection.minute)
        .where(WebhookRejection.minute >= since).order_by(WebhookRejection.minute)
    ).all()
    entries = [(row.provider, row.reason, row.count, row.skew_seconds) for row in rows]
    if tracker is not None:
        entries += tracker.pending_since(since)
    by_reason: dict[str, int] = {}
    by_provider: dict[str, int] = {}
    skew = None
    timestamp = 0
    for provider, reason, count, row_skew in entries:
        by_reason[reason] = by_reason.get(reason, 0) + count
        by_provider[provider] = by_provider.get(provider, 0) + count
        if reason in TIMESTAMP_REASONS:
            timestamp += count
            skew = row_skew if row_skew is not None else skew  # the newest known
    return {
        "total": sum(by_reason.values()),
        "by_reason": by_reason,
        "by_provider": by_provider,
        "timestamp": timestamp,
        "skew_seconds": None if skew is None else round(skew),
    }
