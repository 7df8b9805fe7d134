"""Column types shared by every model, and the clock their defaults read."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pausa_gate.windows import utcnow
from sqlalchemy import DateTime, TypeDecorator

__all__ = ["UTCDateTime", "utcnow"]  # utcnow: the core's one clock, re-exported for the models' defaults


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

