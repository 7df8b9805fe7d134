"""Rate limits shared by the dashboard and the API."""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, has_request_context, request, session
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.exceptions import TooManyRequests

from .extensions import ATTEMPT_LIMITS_KEY, BREACH_AUDITS_KEY, db, limiter
from .security import request_actor
from .services import audit

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    key = actor_key()
    now = time.monotonic()
    last_audit: dict[str, float] = current_app.extensions.setdefault(BREACH_AUDITS_KEY, {})
    if key in last_audit and now - last_audit[key] < _BREACH_AUDIT_SECONDS:
        return
    last_audit[key] = now
    actor = g.get("actor") or request_actor()
    audit.record(
        "admin.rate_limited", actor, request.path,
        {"method": request.method, "limit": str(getattr(limit, "limit", ""))},
    )
    db.session.commit()


def _changed_something(response: Any) -> bool:
    """Count only calls that changed the state: a refused one (bad input, a conflict) costs nothing."""
    return response.status_code < 400


# One budget per admin, whether they click in the dashboard or call the API.
state_change_limit = limiter.shared_limit(
    _state_change_limit, scope="state-change", key_func=actor_key, methods=STATE_CHANGE_METHODS,
    on_breach=audit_breach, deduct_when=_changed_something,
)


def _bypass_link_limit() -> str:
    return current_app.config["BYPASS_LINK_RATE_LIMIT"]


# Each link moves the state version (every worker reloads its state), so a runaway script
# making links must be stopped; the dashboard and the API share one budget per actor.
bypass_link_limit = limiter.shared_limit(
    _bypass_link_limit, scope="bypass-link", key_func=actor_key, methods=["POST"], on_breach=audit_breach,
)


class TokenAttemptsExceeded(TooManyRequests):
    """Too many failed bearer-token attempts from one client IP: answered 429 before any lookup."""

    def __init__(self, retry_after: int):
        message = "Too many failed token attempts from this address; wait before trying again."
        super().__init__(message, retry_after=retry_after)


TOKEN_FAILURE_SCOPE = "token-failures"
# After the limiter's storage (Redis) fails, count in this process's memory for this long.
_STORAGE_RETRY_SECONDS = 30.0


def _counted(call: Callable[[RateLimiter], T]) -> T:
    """Run `call` on the limiter's storage; on this process's memory while that storage fails."""
    state: dict[str, Any] = current_app.extensions.setdefault(ATTEMPT_LIMITS_KEY, {})
    if "fallback" not in state:
        state["fallback"] = FixedWindowRateLimiter(MemoryStorage())
    if state.get("dead_until", 0.0) <= time.monotonic():
        try:
            return call(limiter.limiter)
        except Exception as error:  # a dead Redis must not turn into a 500 or a way around the limit
            log.warning("rate-limit storage unreachable, counting token failures in memory: %s", error)
            state["dead_until"] = time.monotonic() + _STORAGE_RETRY_SECONDS
    return call(state["fallback"])


def _token_failure_limits() -> tuple[list[RateLimitItem], str]:
    return parse_many(current_app.config["TOKEN_FAILURE_RATE_LIMIT"]), f"ip:{request.remote_addr}"


def check_token_failures() -> None:
    """Refuse a client IP that failed too many bearer-token attempts, before it costs a lookup."""
    if not has_request_context():
        return
    items, key = _token_failure_limits()
    resets: list[float] = []
    for item in items:
        identifiers = (item, TOKEN_FAILURE_SCOPE, key)
        if not _counted(lambda strategy, ids=identifiers: strategy.test(*ids)):
            stats = _counted(lambda strategy, ids=identifiers: strategy.get_window_stats(*ids))
            resets.append(stats.reset_time)
    if resets:
        raise TokenAttemptsExceeded(max(1, math.ceil(max(resets) - time.time())))


def note_token_failure() -> None:
    """Count one failed bearer-token attempt against the client IP."""
    if not has_request_context():
        return
    items, key = _token_failure_limits()
    for item in items:
        _counted(lambda strategy, ids=(item, TOKEN_FAILURE_SCOPE, key): strategy.hit(*ids))
