"""Append to and verify the tamper-evident audit trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session

from ..extensions import db
from ..maintenance import audit_chain
from ..maintenance.state import Actor
from ..models import AuditEntry, utcnow

# Any constant: PostgreSQL serialises chain appends on this advisory lock.
_CHAIN_LOCK = 7_163_001


def record(
    action: str,
    actor: Actor,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction; the caller commits."""
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    session.flush()
    prev_hash = session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    # Round-trip details through JSON so the hashed form is the stored form.
    details = json.loads(json.dumps(details, default=str)) if details is not None else None
    entry = AuditEntry(
        created_at=utcnow(),
        actor=actor.name[:254],
        ip=(actor.ip or None) and actor.ip[:64],
        user_agent=(actor.user_agent or None) and actor.user_agent[:256],
        action=action,
        target=target,
        details=details,
        prev_hash=prev_hash or audit_chain.GENESIS,
    )
    fields = entry.chain_fields()
    entry.hash = audit_chain.entry_hash(entry.prev_hash, fields)
    session.add(entry)
    return entry


def iter_chain(batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Yield every entry's chain fields in insertion order, a batch at a time."""
    last_id = 0
    while True:
        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row.chain_fields()
        last_id = rows[-1].id
        db.session.expunge_all()


def verify_chain() -> audit_chain.ChainReport:
    """Walk the whole trail and report the first broken link, if any."""
    return audit_chain.verify(iter_chain())


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Refuse, at the ORM level, any update or delete of an audit entry."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditImmutableError("audit entries are append-only")
