"""Maintenance windows, the state version the gate revalidates on, and recurrences."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from pausa_gate.state import Mode, Reason, Status, WindowState, message_pairs
from sqlalchemy import JSON, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..maintenance.validation import FIELDS as WINDOW_FIELDS
from .types import UTCDateTime, utcnow


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
        # A unique index rather than a constraint, so migration 0013 adds it without rebuilding the table.
        Index("uq_maintenance_windows_occurrence", "recurrence_id", "occurrence_at", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default=Status.ACTIVE.value)
    mode: Mapped[str] = mapped_column(String(16), default=Mode.FULL.value)
    reason: Mapped[str] = mapped_column(String(16), default=Reason.OTHER.value)
    message: Mapped[str] = mapped_column(Text, default="")
    # The message in other languages, {language tag: text} (e.g. {"pt-BR": "..."}); visitors whose
    # language has none get `message`. Rows from before migration 0010 hold {}.
    messages: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
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
    # An occurrence of a recurrence: which one, and the start the rule gave it (kept when moved;
    # cleared when the recurrence itself calls it off). Unique together: never planned twice.
    recurrence_id: Mapped[int | None] = mapped_column(db.ForeignKey("recurrences.id"))
    occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recurrence = db.relationship("Recurrence")

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
            messages=message_pairs(self.messages),
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


class Recurrence(db.Model):
    """A window that repeats (docs/recurrences.md): its rule, and the fields each occurrence gets.

    `rule` is the spec app/maintenance/recurrence.py parses; `window` the window fields (message,
    reason, mode...) every planned occurrence is scheduled with. Deleting keeps the row (the
    occurrences already run still name it) and stamps `deleted_at`.
    """

    __tablename__ = "recurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    window: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # active | paused | deleted
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
