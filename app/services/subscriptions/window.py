"""Per-window subscribers: subscribe, unsubscribe, the "we're back" emails' queueing, erasure, counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import SYSTEM, Status
from pausa_gate.windows import utcnow
from sqlalchemy import String, cast, exists, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ... import mail
from ...extensions import db
from ...models import Delivery, MaintenanceWindow, Subscriber, UTCDateTime
from .. import NotFound, audit
from .addresses import EmailDisabled, email_hash, normalise_email

KIND = "back_online"
# A delivery in these states may still read the address: retention leaves it alone.
PENDING = ("queued", "sending")
SHOWN = ("queued", "sent", "skipped", "failed")  # the dashboard's columns; the rest are "other"


@dataclass(frozen=True)
class Subscription:
    """What the subscribe confirmation shows; the same whether the address was new or not."""

    subscriber_id: int
    email: str


def subscribe(window_id: int, raw_email: str, language: str, now: datetime | None = None) -> Subscription:
    """Subscribe an address to a window's end, once; a repeat answers exactly like the first time.

    A repeat after an unsubscribe subscribes again (the person asked, again).
    """
    if not mail.email_enabled():
        raise EmailDisabled("Email notifications are switched off on this site.")
    now = now or utcnow()
    email = normalise_email(raw_email)
    digest = email_hash(email)
    window = db.session.get(MaintenanceWindow, window_id)
    open_statuses = (Status.ACTIVE.value, Status.SCHEDULED.value)
    if window is None or window.status not in open_statuses or window.ended_at is not None:
        db.session.rollback()
        raise NotFound("No maintenance is active.")
    existing = _find(window_id, digest)
    if existing is None:
        existing = Subscriber(
            window_id=window_id, email=email, email_hash=digest, language=language[:8], created_at=now
        )
        db.session.add(existing)
        try:
            db.session.flush()
        except IntegrityError:  # the same address, at the same moment, from another request
            db.session.rollback()
            existing = _find(window_id, digest)
            if existing is None:
                raise
    elif existing.unsubscribed_at is not None:
        existing.unsubscribed_at = None
        existing.language = language[:8]
    subscription = Subscription(existing.id, email)
    db.session.commit()
    return subscription


def _find(window_id: int, digest: str) -> Subscriber | None:
    return db.session.scalar(
        select(Subscriber).where(Subscriber.window_id == window_id, Subscriber.email_hash == digest)
    )


def unsubscribe(subscriber_id: int, now: datetime | None = None) -> bool:
    """Stop emails to a subscriber: its queued deliveries are skipped. Idempotent.

    Returns False when there is no such subscriber.
    """
    now = now or utcnow()
    subscriber = db.session.get(Subscriber, subscriber_id, with_for_update=True)
    if subscriber is None:
        db.session.rollback()
        return False
    if subscriber.unsubscribed_at is None:
        subscriber.unsubscribed_at = now
    db.session.execute(
        update(Delivery)
        .where(Delivery.subscriber_id == subscriber_id, Delivery.status == "queued")
        .values(status="skipped", last_error="unsubscribed")
    )
    db.session.commit()
    return True


# --- Queueing: in the transaction that ends the window ---------------------------------------


def _live() -> tuple[Any, ...]:
    return (
        Subscriber.unsubscribed_at.is_(None),
        Subscriber.erased_at.is_(None),
        Subscriber.email.is_not(None),
    )


def queue_deliveries(window: MaintenanceWindow, ended_at: datetime) -> int:
    """Queue one "back online" delivery per live subscriber of `window`; the caller commits.

    One INSERT … SELECT, so ten thousand subscribers cost one statement; a
    subscriber that already has its delivery is left alone by ON CONFLICT on
    the unique (subscriber_id, kind), so queueing twice is harmless. (A NOT
    EXISTS anti-join instead made PostgreSQL rescan the rows being inserted:
    quadratic, 10 s for 10,000.) Nothing is queued while email is disabled: a row
    that can never be sent would only sit in the queue.
    """
    if not mail.email_enabled():
        return 0
    not_before = ended_at + timedelta(seconds=int(current_app.config["NOTIFY_DELAY_SECONDS"]))
    rows = select(
        Subscriber.window_id,
        Subscriber.id,
        literal(KIND, String),
        literal("queued", String),
        literal(not_before, UTCDateTime),
        literal(0),
        literal(utcnow(), UTCDateTime),
    ).where(Subscriber.window_id == window.id, *_live())
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        statement: Any = postgresql.insert(Delivery.__table__)
    elif dialect == "sqlite":
        statement = sqlite.insert(Delivery.__table__)
    else:  # pragma: no cover - Pausa runs on PostgreSQL and SQLite only
        raise RuntimeError(f"queueing deliveries does not support the {dialect} dialect")
    statement = statement.from_select(
        ["window_id", "subscriber_id", "kind", "status", "not_before", "attempts", "created_at"], rows
    ).on_conflict_do_nothing(index_elements=["subscriber_id", "kind"])
    result = db.session.execute(statement.execution_options(preserve_rowcount=True))
    return max(result.rowcount or 0, 0)


# --- Retention --------------------------------------------------------------------------------


def erase_expired_subscribers(now: datetime | None = None) -> int:
    """Erase addresses older than SUBSCRIBER_RETENTION_DAYS, except those still being mailed.

    One UPDATE and one audit entry (`subscribers.erased`, with the count) per run.
    """
    now = now or utcnow()
    cutoff = now - timedelta(days=int(current_app.config["SUBSCRIBER_RETENTION_DAYS"]))
    pending = exists().where(Delivery.subscriber_id == Subscriber.id, Delivery.status.in_(PENDING))
    result = db.session.execute(
        update(Subscriber)
        .where(Subscriber.erased_at.is_(None), Subscriber.created_at < cutoff, ~pending)
        .values(
            email=None,
            email_hash=literal("erased:", String).concat(cast(Subscriber.id, String)),
            erased_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    count = max(result.rowcount or 0, 0)
    if not count:
        db.session.rollback()
        return 0
    audit.record(
        "subscribers.erased",
        SYSTEM,
        None,
        {"count": count, "retention_days": int(current_app.config["SUBSCRIBER_RETENTION_DAYS"])},
    )
    db.session.commit()
    return count


# --- Dashboard ---------------------------------------------------------------------------------


def dashboard_counts(now: datetime | None = None) -> dict[str, Any]:
    """The dashboard's subscriber figures: the active window's count; the last ended window's deliveries."""
    active = db.session.scalar(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.status == Status.ACTIVE.value)
        .order_by(MaintenanceWindow.starts_at.desc())
        .limit(1)
    )
    active_count = None
    if active is not None:
        active_count = db.session.scalar(
            select(func.count()).select_from(Subscriber).where(Subscriber.window_id == active.id, *_live())
        )
    last = db.session.scalar(
        select(MaintenanceWindow)
        .where(MaintenanceWindow.status == Status.COMPLETED.value)
        .order_by(MaintenanceWindow.ended_at.desc(), MaintenanceWindow.id.desc())
        .limit(1)
    )
    deliveries: dict[str, int] = {}
    if last is not None:
        deliveries = dict(
            db.session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.window_id == last.id)
                .group_by(Delivery.status)
            ).all()
        )
    return {
        "active": active,
        "active_count": active_count or 0,
        "last": last,
        "deliveries": {status: deliveries.get(status, 0) for status in SHOWN},
        "other": sum(n for status, n in deliveries.items() if status not in SHOWN),
    }
