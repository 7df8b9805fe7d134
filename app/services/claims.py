"""Take rows to process without two worker processes ever taking the same ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from ..extensions import db


def claim(statement: Select, limit: int | None = None) -> list[Any]:
    """Return the rows of `statement` this worker may process, at most `limit` of them.

    On PostgreSQL the rows are locked (FOR UPDATE SKIP LOCKED) until the
    caller's transaction ends: a concurrent claim skips them instead of waiting,
    and once the caller commits, rows it finished no longer match the WHERE of
    a later claim. SQLite has no row locks; it runs a single worker. The rows
    are re-read (populate_existing), so objects already in the session are fresh.
    """
    if limit is not None:
        statement = statement.limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    return list(db.session.scalars(statement.execution_options(populate_existing=True)))
