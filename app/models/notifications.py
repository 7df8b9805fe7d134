"""Who is told about windows and what is owed to them: subscribers, emails, the breaker, alerts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class Subscriber(db.Model):
    """An address that asked to be told when one window ends; erased after the retention period."""

    __tablename__ = "subscribers"
    __table_args__ = (
        UniqueConstraint("window_id", "email_hash", name="uq_subscribers_window_email"),
        Index("ix_subscribers_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(db.ForeignKey("maintenance_windows.id"))
    # Normalised address; None once erased (the hash then becomes "erased:<id>").
    email: Mapped[str | None] = mapped_column(String(254))
    email_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Delivery(db.Model):
    """One email owed to one subscriber, queued in the transaction that ended the window."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "kind", name="uq_deliveries_subscriber_kind"),
        Index("ix_deliveries_status_not_before", "status", "not_before"),
        Index("ix_deliveries_window_id", "window_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(db.ForeignKey("maintenance_windows.id"))
    subscriber_id: Mapped[int] = mapped_column(db.ForeignKey("subscribers.id"))
    kind: Mapped[str] = mapped_column(String(32), default="back_online")
    # queued → sending → sent; or skipped (flap, unsubscribed), failed (gave up), uncertain (crash mid-call)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StandingSubscriber(db.Model):
    """An address that asked to hear about every window (double opt-in); erased on unsubscribe.

    pending → confirmed (the link in the confirmation email) → unsubscribed (one click). Only the
    hash survives an unsubscribe, so a later subscribe finds the row and starts the opt-in again.
    """

    __tablename__ = "standing_subscribers"
    __table_args__ = (Index("ix_standing_subscribers_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254))
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | confirmed | unsubscribed
    # The confirmation email is owed from confirm_due_at (None: nothing owed); the worker sends it.
    confirm_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirm_attempts: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notice(db.Model):
    """One notice email about one window owed to one standing subscriber: each at most once."""

    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint(
            "standing_subscriber_id", "window_id", "kind", name="uq_notices_subscriber_window_kind"
        ),
        Index("ix_notices_status_not_before", "status", "not_before"),
        Index("ix_notices_window_id_kind", "window_id", "kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    standing_subscriber_id: Mapped[int] = mapped_column(db.ForeignKey("standing_subscribers.id"))
    window_id: Mapped[int] = mapped_column(db.ForeignKey("maintenance_windows.id"))
    # scheduled | reminder | started | changed | changed-2 … | ended | cancelled (docs/notices.md)
    kind: Mapped[str] = mapped_column(String(32))
    # queued → sending → sent; or skipped, failed, uncertain — as deliveries (app/services/notifications/)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    batch_id: Mapped[str | None] = mapped_column(String(36))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoticeRound(db.Model):
    """That one kind of notice was queued for one window: the reminder (and its hook) happen once."""

    __tablename__ = "notice_rounds"
    __table_args__ = (UniqueConstraint("window_id", "kind", name="uq_notice_rounds_window_kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(db.ForeignKey("maintenance_windows.id"))
    kind: Mapped[str] = mapped_column(String(32))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recipients: Mapped[int] = mapped_column(Integer, default=0)


class CircuitBreaker(db.Model):
    """A circuit breaker's state, shared by every worker (e.g. name "sendgrid")."""

    __tablename__ = "circuit_breakers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="closed")  # closed | open | half_open
    failures: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AdminAlert(db.Model):
    """One admin alert per cause (e.g. "overdue:window:3"), so each is sent exactly once."""

    __tablename__ = "admin_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    cause: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
