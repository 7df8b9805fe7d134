"""Rate limits shared by the dashboard and the API."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from flask import current_app, g, request, session

from .extensions import limiter

STATE_CHANGE_METHODS = ["POST", "PATCH", "DELETE"]


def actor_key() -> str:
    """Key state-change limits by actor: the token, else the signed-in user, else the IP."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return "token:" + hashlib.sha256(header[7:].strip().encode()).hexdigest()[:32]
    user_id = session.get("_user_id")
    if user_id:
        return f"user:{user_id}"
    return f"ip:{request.remote_addr}"


def _state_change_limit() -> str:
    return current_app.config["STATE_CHANGE_RATE_LIMIT"]


# Each process audits a given actor's breaches at most once a minute, so a script hammering
# the API cannot bury the trail in admin.rate_limited rows.
_BREACH_AUDIT_SECONDS = 60.0


def audit_breach(limit: Any) -> None:
    """Audit `admin.rate_limited` (with IP and user agent) when a state change hits its limit."""
    from .blueprints.auth import request_actor
    from .extensions import db
    from .services import audit

    key = actor_key()
    now = time.monotonic()
    last_audit: dict[str, float] = current_app.extensions.setdefault("pausa_breach_audits", {})
    if key in last_audit and now - last_audit[key] < _BREACH_AUDIT_SECONDS:
        return
    last_audit[key] = now
    actor = g.get("actor") or request_actor()
    audit.record(
        "admin.rate_limited", actor, request.path,
        {"method": request.method, "limit": str(getattr(limit, "limit", ""))},
    )
    db.session.commit()


# One budget per admin, whether they click in the dashboard or call the API.
state_change_limit = limiter.shared_limit(
    _state_change_limit, scope="state-change", key_func=actor_key, methods=STATE_CHANGE_METHODS,
    on_breach=audit_breach,
)
