"""Secret links that let a tester through a maintenance window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


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
