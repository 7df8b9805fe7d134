"""Append to and verify the tamper-evident audit trail."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import Select, event, func, or_, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..extensions import AUDIT_VERIFY_KEY, db
from ..maintenance import audit_chain
from ..models import AuditEntry

# Any constant: PostgreSQL serialises chain appends on this advisory lock.
_CHAIN_LOCK = 7_163_001
# A signed-in non-admin (or a token without the admin scope) knocking on admin pages is
# audited once per this interval, not on every request (docs/security.md).
DENIED_AUDIT_INTERVAL = timedelta(hours=1)


def lock_chain() -> None:
    """Hold the chain's append lock until the transaction ends (PostgreSQL; SQLite has one writer)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})


def record(
    action: str,
    actor: Actor,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the current transaction; the caller commits."""
    session = db.session
    lock_chain()
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


def record_at_most_every(
    stamp: InstrumentedAttribute[Any],
    row_id: int,
    interval: timedelta,
    action: str,
    actor: Actor,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> bool:
    """Stamp a row's timestamp column and audit `action`, unless it was stamped within `interval`.

    The conditional UPDATE lets only one of several concurrent requests win the interval, so
    an event that repeats on every request (a token's use, a refused admin page) leaves one
    entry per interval and the trail stays readable. The caller commits.
    """
    model = stamp.class_
    now = utcnow()
    won = db.session.execute(
        update(model)
        .where(model.id == row_id)
        .where(or_(stamp.is_(None), stamp <= now - interval))
        .values({stamp.key: now})
        .execution_options(synchronize_session=False)
    ).rowcount
    if won:
        record(action, actor, target, details)
    return bool(won)


_CHAIN_COLUMNS = (
    AuditEntry.id, AuditEntry.created_at, AuditEntry.actor, AuditEntry.ip, AuditEntry.user_agent,
    AuditEntry.action, AuditEntry.target, AuditEntry.details, AuditEntry.prev_hash, AuditEntry.hash,
)


def _batches(query: Select[Any], batch: int) -> Iterator[dict[str, Any]]:
    """Yield chain fields (as AuditEntry.chain_fields) of `query`'s rows by id, keyset batches.

    Plain column rows, not ORM objects: walking 100,000 entries stays a matter of seconds.
    """
    last_id = 0
    while True:
        rows = db.session.execute(
            query.where(AuditEntry.id > last_id).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            fields = row._asdict()
            fields["created_at"] = fields["created_at"].isoformat()
            yield fields
        last_id = rows[-1].id


def iter_chain(batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Yield every entry's chain fields in insertion order, a batch at a time."""
    return _batches(select(*_CHAIN_COLUMNS), batch)


def verify_chain() -> audit_chain.ChainReport:
    """Walk the whole trail and report the first broken link, if any."""
    return audit_chain.verify(iter_chain())


@dataclass(frozen=True)
class AuditFilters:
    """What the history page, the CSV export and `flask audit export` filter on (all optional).

    `action` and `actor` are prefixes, in any case: "maintenance" finds maintenance.activated,
    "cli" finds cli:deploy. `%` and `_` in them are plain characters, not wildcards.
    """

    action: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None


def filtered(filters: AuditFilters) -> Select[tuple[AuditEntry]]:
    """Select the entries matching the filters (unordered)."""
    query = select(AuditEntry)
    # lower(column) LIKE lower(prefix) || '%' on both databases: SQLite's LIKE ignores ASCII
    # case and PostgreSQL's does not, so a plain LIKE would find different entries on each.
    # A page walks the id index newest first and stops after 51 matches (fast at 100,000 rows).
    if filters.action:
        query = query.where(AuditEntry.action.istartswith(filters.action, autoescape=True))
    if filters.actor:
        query = query.where(AuditEntry.actor.istartswith(filters.actor, autoescape=True))
    if filters.since:
        query = query.where(AuditEntry.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditEntry.created_at < filters.until)
    return query


def page(
    filters: AuditFilters, before: int | None = None, size: int = 50
) -> tuple[list[AuditEntry], int | None]:
    """Return one page newest first (keyset on id: `before` is the last id already shown).

    Returns the entries and the `before` id of the next (older) page, or None on the last page.
    """
    query = filtered(filters).order_by(AuditEntry.id.desc())
    if before:
        query = query.where(AuditEntry.id < before)
    rows = list(db.session.scalars(query.limit(size + 1)).all())
    has_more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if has_more and rows else None)


def iter_filtered(filters: AuditFilters, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Yield the matching entries' chain fields oldest first, a keyset batch at a time."""
    return _batches(filtered(filters).with_only_columns(*_CHAIN_COLUMNS), batch)


# A full walk of the chain is reused for this long; meanwhile only new entries are walked.
FULL_WALK_SECONDS = 300.0


@dataclass
class _Walk:
    at: float
    last_id: int
    last_hash: str
    report: audit_chain.ChainReport


def _walk(query: Select[Any], expected_prev: str, checked: int) -> tuple[audit_chain.ChainReport, int, str]:
    seen: dict[str, Any] = {}

    def remember() -> Iterator[dict[str, Any]]:
        for fields in _batches(query, 5000):
            seen["id"], seen["hash"] = fields["id"], fields["hash"]
            yield fields

    report = audit_chain.verify(remember(), expected_prev, checked)
    return report, seen.get("id", 0), seen.get("hash", expected_prev)


def cached_verify(force: bool = False) -> audit_chain.ChainReport:
    """Verify the chain for the history page without walking 100,000 rows on every view.

    A full walk is reused for FULL_WALK_SECONDS; in between, only entries appended since the
    last walk are checked (against the last hash seen), so a new or altered recent entry shows
    at once and an altered old one within minutes. `force` (the "Verify again" button) walks
    the whole chain now. The state lives in this app object, so each process keeps its own.
    """
    cache = current_app.extensions.setdefault(AUDIT_VERIFY_KEY, {})
    last: _Walk | None = cache.get("walk")
    now = time.monotonic()
    if last is not None and last.last_id:
        # The entry the last walk ended on must still be there, unchanged (SQLite may even
        # reuse the id of a deleted last row): otherwise walk everything again.
        row = db.session.execute(select(*_CHAIN_COLUMNS).where(AuditEntry.id == last.last_id)).first()
        fields = row._asdict() if row else None
        if fields is not None:
            fields["created_at"] = fields["created_at"].isoformat()
        if (
            fields is None
            or fields["hash"] != last.last_hash
            or audit_chain.entry_hash(fields["prev_hash"], fields) != last.last_hash
        ):
            last = None
    if force or last is None or not last.report.ok or now - last.at > FULL_WALK_SECONDS:
        report, last_id, last_hash = _walk(select(*_CHAIN_COLUMNS), audit_chain.GENESIS, 0)
        cache["walk"] = _Walk(now, last_id, last_hash, report)
        return report
    query = select(*_CHAIN_COLUMNS).where(AuditEntry.id > last.last_id)
    report, last_id, last_hash = _walk(query, last.last_hash, last.report.checked)
    if last_id:
        cache["walk"] = _Walk(last.at, last_id, last_hash, report)
    return report


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """Refuse, at the ORM level, any update or delete of an audit entry."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, AuditEntry) and (obj in session.deleted or session.is_modified(obj)):
            raise AuditImmutableError("audit entries are append-only")


def verify_recent(count: int) -> tuple[audit_chain.ChainReport, int]:
    """Verify that the newest `count` entries chain to each other; return the report and the total.

    The oldest of them is trusted to follow the entry before it: `flask audit verify` walks the
    whole trail. With `count` or fewer entries, the whole chain is walked from its start.
    """
    total = db.session.scalar(select(func.count()).select_from(AuditEntry)) or 0
    start = db.session.execute(
        select(AuditEntry.id, AuditEntry.prev_hash).order_by(AuditEntry.id.desc()).offset(count - 1).limit(1)
    ).first()
    if start is None or total <= count:
        report, _, _ = _walk(select(*_CHAIN_COLUMNS), audit_chain.GENESIS, 0)
    else:
        report, _, _ = _walk(select(*_CHAIN_COLUMNS).where(AuditEntry.id >= start.id), start.prev_hash, 0)
    return report, total


def latest(limit: int = 8) -> list[AuditEntry]:
    """Return the newest audit entries, the latest first."""
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
