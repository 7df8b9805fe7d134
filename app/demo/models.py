"""The sample protected app's model (the demo site Pausa guards), not part of Pausa itself."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models.types import UTCDateTime, utcnow


class DemoItem(db.Model):
    """A row of the demo site's API, so that writes have something real to change."""

    __tablename__ = "demo_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
