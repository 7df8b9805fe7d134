"""Database models: users and their sessions, API tokens, windows, the state version, the audit trail."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from flask_login import UserMixin
from pausa_gate.state import Mode, Reason, Status, WindowState
from sqlalchemy import (
    DDL,
    JSON,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .maintenance.validation import FIELDS as WINDOW_FIELDS


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Store naive UTC, hand back aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32), default="user")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stamped when `admin.denied` is audited, so that entry is written at most once per interval.
    last_denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class UserSession(db.Model):
    """One sign-in: the login cookie names it, and it stops working the moment it is revoked.

    Only the SHA-256 of the random key in the (signed) cookie is stored. The IP and user agent
    are those of the sign-in; an admin's session ends when a request comes from another client.
    """

    __tablename__ = "user_sessions"
    __table_args__ = (Index("ix_user_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(db.ForeignKey("users.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # logout | sign_out_everywhere | password_changed | role_changed | client_changed
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(200), default="admin")
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class MaintenanceWindow(db.Model):
    __tablename__ = "maintenance_windows"
    __table_args__ = (
        # The database itself refuses a second active window, whatever the code does.
        Index(
            "uq_maintenance_windows_one_active",
            "status",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_maintenance_windows_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.ACTIVE.value)
    mode: Mapped[str] = mapped_column(String(16), default=Mode.FULL.value)
    reason: Mapped[str] = mapped_column(String(16), default=Reason.OTHER.value)
    message: Mapped[str] = mapped_column(Text, default="")
    scope_paths: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    allowed_ips: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    notice_minutes: Mapped[int] = mapped_column(Integer, default=0)
    drain_minutes: Mapped[int] = mapped_column(Integer, default=0)
    eta: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_webhook_processing: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str | None] = mapped_column(String(254))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(254))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_how: Mapped[str | None] = mapped_column(String(8))
    # Set once by the worker when it has alerted, so each alert fires exactly once.
    overdue_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ceiling_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Every window field an admin can change once it exists (its start is fixed).
    EDITABLE = tuple(name for name in WINDOW_FIELDS if name != "starts_at")

    def snapshot(self) -> dict[str, Any]:
        """Return the editable fields as JSON-ready values, for audit before/after."""
        values: dict[str, Any] = {}
        for name in self.EDITABLE:
            value = getattr(self, name)
            values[name] = value.isoformat() if isinstance(value, datetime) else value
        return values

    def to_state(self) -> WindowState:
        """Freeze this row into the snapshot the gate decides on."""
        return WindowState(
            id=self.id,
            status=Status(self.status),
            mode=Mode(self.mode),
            reason=Reason(self.reason),
            message=self.message,
            starts_at=self.starts_at,
            eta=self.eta,
            ends_at=self.ends_at,
            notice_minutes=self.notice_minutes,
            drain_minutes=self.drain_minutes,
            scope_paths=tuple(self.scope_paths or ()),
            allowed_roles=frozenset(self.allowed_roles or ()),
            allowed_networks=tuple(
                ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_ips or ()
            ),
            pause_webhook_processing=self.pause_webhook_processing,
        )


class MaintenanceState(db.Model):
    """One row whose version moves on every change, so workers revalidate with one read."""

    __tablename__ = "maintenance_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEntry(db.Model):
    """Append-only: written once, never updated or deleted (a session hook enforces it)."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_action_id", "action", "id"),
        Index("ix_audit_entries_actor_id", "actor", "id"),
        Index("ix_audit_entries_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def chain_fields(self) -> dict[str, Any]:
        """Return the fields the hash chain covers, as they were hashed."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "actor": self.actor,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "action": self.action,
            "target": self.target,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


# PostgreSQL refuses UPDATE and DELETE on audit rows whoever asks (migration 0007 creates the
# same trigger); tables built with create_all (tests) get it here. TRUNCATE is not covered.
AUDIT_APPEND_ONLY_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = 'audit_entries is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END
$$
"""
AUDIT_APPEND_ONLY_TRIGGER = """
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
"""
for _statement in (AUDIT_APPEND_ONLY_FUNCTION, AUDIT_APPEND_ONLY_TRIGGER):
    event.listen(AuditEntry.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))


class DemoItem(db.Model):
    """A row of the demo site's API, so that writes have something real to change."""

    __tablename__ = "demo_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkerHeartbeat(db.Model):
    """One row per `flask worker` process, refreshed every pass so health checks can see it is alive."""

    __tablename__ = "worker_heartbeats"
    __table_args__ = (Index("ix_worker_heartbeats_beat_at", "beat_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)  # hostname:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    current_task: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BypassLink(db.Model):
    """A secret link that lets a tester through one maintenance window; only its hash is stored."""

    __tablename__ = "bypass_links"
    __table_args__ = (Index("ix_bypass_links_window_id", "window_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    window_id: Mapped[int] = mapped_column(db.ForeignKey("maintenance_windows.id"))
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


class OutboundWebhook(db.Model):
    """One window transition owed to one OUTBOUND_WEBHOOK_URLS receiver.

    message_id is the Standard Webhooks `webhook-id`, the same on every retry
    so receivers can deduplicate.
    """

    __tablename__ = "outbound_webhooks"
    __table_args__ = (
        UniqueConstraint("message_id", "url", name="uq_outbound_webhooks_message_url"),
        Index("ix_outbound_webhooks_status_not_before", "status", "not_before"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(String(2000))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    # queued → sent; or failed (gave up after WEBHOOK_MAX_ATTEMPTS)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)


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
