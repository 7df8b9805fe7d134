"""Rate limits shared by the dashboard and the API."""

from __future__ import annotations

import hashlib

from flask import current_app, request, session

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


# One budget per admin, whether they click in the dashboard or call the API.
state_change_limit = limiter.shared_limit(
    _state_change_limit, scope="state-change", key_func=actor_key, methods=STATE_CHANGE_METHODS
)
