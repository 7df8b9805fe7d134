"""Generated history: audit rows with a valid hash chain, and maintenance windows, inserted fast."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.maintenance import audit_chain
from app.models import AuditEntry, MaintenanceWindow

ACTIONS = ("maintenance.activated", "maintenance.updated", "maintenance.ended", "auth.login", "token.used")
ACTORS = ("admin@example.com", "cli:deploy", "token:ci", "system")


def bulk_audit(count: int, start: datetime, step: timedelta = timedelta(minutes=1), *,
               action: str | None = None, actor: str | None = None, batch: int = 10_000) -> None:
    """Append `count` entries after the current last one, chained exactly as audit.record does."""
    prev = db.session.scalar(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))
    prev = prev or audit_chain.GENESIS
    rows: list[dict] = []
    for number in range(count):
        created = (start + step * number).astimezone(UTC)
        row = {
            "created_at": created,
            "actor": actor or ACTORS[number % len(ACTORS)],
            "ip": "203.0.113.7",
            "user_agent": "bulk/1.0",
            "action": action or ACTIONS[number % len(ACTIONS)],
            "target": f"window:{number // 5}",
            "details": {"before": {"message": f"m{number}"}, "after": {"message": f"m{number + 1}"}},
        }
        fields = {**row, "created_at": created.isoformat()}
        row["prev_hash"] = prev
        row["hash"] = prev = audit_chain.entry_hash(prev, fields)
        rows.append(row)
        if len(rows) >= batch:
            db.session.execute(AuditEntry.__table__.insert(), rows)
            rows = []
    if rows:
        db.session.execute(AuditEntry.__table__.insert(), rows)
    db.session.commit()


def bulk_windows(count: int, start: datetime, seed: int = 7) -> None:
    """Insert `count` ended windows, one every ~8 hours, of random reason, length and ETA."""
    rng = random.Random(seed)
    reasons = ("deployment", "database", "testing", "incident", "other")
    rows = []
    moment = start
    for _number in range(count):
        moment += timedelta(hours=rng.randint(4, 12))
        length = timedelta(minutes=rng.randint(5, 180))
        planned = rng.random() < 0.5
        rows.append({
            "status": "completed", "mode": "full", "reason": rng.choice(reasons), "message": "",
            "scope_paths": [], "allowed_roles": [], "allowed_ips": [], "notice_minutes": 0,
            "drain_minutes": 0, "pause_webhook_processing": False,
            "created_at": moment - (timedelta(days=1) if planned else timedelta()),
            "starts_at": moment, "started_at": moment, "ended_at": moment + length, "ended_how": "manual",
            "eta": moment + timedelta(minutes=rng.randint(5, 180)) if rng.random() < 0.8 else None,
            "created_by": "cli:gen", "started_by": "cli:gen", "ended_by": "cli:gen", "updated_at": moment + length,
        })
        moment += length
    db.session.execute(MaintenanceWindow.__table__.insert(), rows)
    db.session.commit()
