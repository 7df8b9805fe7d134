"""The audit history: filtered, paged newest first."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template, request
from flask_babel import gettext
from sqlalchemy import select

from ..extensions import db
from ..maintenance.windows import parse_moment, utcnow
from ..models import AuditEntry
from .auth import admin_required

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

PAGE_SIZE = 50


@bp.before_request
@admin_required
def guard() -> None:
    """Only admins read the audit trail."""


def _date(name: str, errors: dict[str, str]) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = parse_moment(raw, utcnow())
    except ValueError:
        errors[name] = gettext("Use an ISO-8601 date, like 2026-01-31 or 2026-01-31T02:00Z.")
        return None
    return moment.astimezone(UTC)


@bp.get("")
def history() -> tuple[str, int]:
    """List entries newest first, with keyset paging on the id (`?before=<id>`)."""
    errors: dict[str, str] = {}
    action = request.args.get("action", "").strip()
    actor = request.args.get("actor", "").strip()
    since, until = _date("since", errors), _date("until", errors)
    before = request.args.get("before", type=int)
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if action:
        query = query.where(AuditEntry.action == action)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if since:
        query = query.where(AuditEntry.created_at >= since)
    if until:
        query = query.where(AuditEntry.created_at < until)
    if before:
        query = query.where(AuditEntry.id < before)
    rows = [] if errors else db.session.scalars(query.limit(PAGE_SIZE + 1)).all()
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {key: request.args.get(key, "") for key in ("action", "actor", "since", "until")}
    return render_template(
        "audit/list.html",
        entries=rows,
        errors=errors,
        filters=filters,
        next_before=rows[-1].id if has_more and rows else None,
    ), (400 if errors else 200)
