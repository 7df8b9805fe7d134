"""Inbound webhook events and what their handlers record, outbound notices and their receivers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class WebhookEvent(db.Model):
    """One verified inbound webhook event, stored before the sender gets its 200.

    Unique per (provider, event_id) so a retried delivery changes nothing; the
    id gives arrival order, in which the worker processes pending events.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_id", name="uq_webhook_events_provider_event"),
        Index("ix_webhook_events_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    # pending → processed; or dead (gave up after WEBHOOK_MAX_ATTEMPTS; replayable)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class PaymentEvent(db.Model):
    """What the sample webhook handlers record: one row per processed payment-ish event."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_payment_events_provider_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(255))
    event_type: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookRejection(db.Model):
    """Rejected inbound webhook requests, counted per provider, reason and minute.

    Each web process adds its counts at most every few seconds (app/services/webhook_rejections.py),
    so a flood of bad requests costs no write per request; the dashboard sums the last hour.
    """

    __tablename__ = "webhook_rejections"
    __table_args__ = (Index("ix_webhook_rejections_minute", "minute"),)

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    # This server's clock minus the sender's timestamp, for the newest timestamp rejection.
    skew_seconds: Mapped[float | None] = mapped_column(Float)


class OutboundWebhook(db.Model):
    """One window transition owed to one OUTBOUND_WEBHOOK_URLS receiver.

    message_id is the Standard Webhooks `webhook-id`, the same on every retry
    so receivers can deduplicate.
    """

    __tablename__ = "outbound_webhooks"
    __table_args__ = (
        UniqueConstraint("message_id", "url", name="uq_outbound_webhooks_message_url"),
        # A unique index rather than a constraint, so migration 0012 adds it without rebuilding the table.
        Index("uq_outbound_webhooks_subscriber_notice", "subscriber_id", "window_id", "notice", unique=True),
        Index("ix_outbound_webhooks_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # queued → sent; or failed (gave up after WEBHOOK_MAX_ATTEMPTS), cancelled (its subscriber was disabled)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # A notice owed to an admin-registered WebhookSubscriber (NULL for OUTBOUND_WEBHOOK_URLS rows):
    # signed with that subscriber's secret; unique per (subscriber, window, notice) so a notice
    # is queued at most once however often it is queued (app/services/webhook_subscribers.py).
    subscriber_id: Mapped[int | None] = mapped_column(
        db.ForeignKey("webhook_subscribers.id", name="fk_outbound_webhooks_subscriber_id")
    )
    window_id: Mapped[int | None] = mapped_column(Integer)
    notice: Mapped[str | None] = mapped_column(String(64))


class WebhookSubscriber(db.Model):
    """A URL an admin registered to receive the window notices, signed with its own secret.

    The secret (Standard Webhooks `whsec_<base64>`) is kept so deliveries can be signed; it is
    shown once, when it is made, and never listed, audited or returned again. Disabling a
    subscriber erases its secret: nothing more can be signed for it.
    """

    __tablename__ = "webhook_subscribers"
    __table_args__ = (Index("ix_webhook_subscribers_disabled_at", "disabled_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_by: Mapped[str | None] = mapped_column(String(254))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What its latest delivery attempt got: an HTTP status, or None and an error (network).
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)

    @property
    def active(self) -> bool:
        return self.disabled_at is None
