"""Use cases of API tokens: create (shown once), revoke, authenticate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from pausa_gate.state import Actor
from sqlalchemy import select

from .. import ratelimits
from ..extensions import db
from ..models import ApiToken, utcnow
from . import Conflict, NotFound, ServiceError, audit

# admin: the JSON admin API; bypass: through maintenance; gate: read the state feed (/gate/state).
SCOPES = ("admin", "bypass", "gate")
PREFIX = "pausa_"


def hash_token(raw: str) -> str:
    """Hash a token for storage and lookup; the raw token is never stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(name: str, scopes: list[str], actor: Actor) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 80 or not all(c.isalnum() or c in "-_." for c in name):
        raise ServiceError("A token name is 1-80 letters, digits, '-', '_' or '.'.")
    scopes = sorted(set(scopes or ["admin"]))
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise ServiceError(f"Unknown scope {unknown[0]!r}; scopes are: {', '.join(SCOPES)}.")
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(f"A token named {name} already exists.")
    raw = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name, token_hash=hash_token(raw), scopes=" ".join(scopes), created_by=actor.name
    )
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor, f"token:{name}", {"scopes": scopes})
    db.session.commit()
    return token, raw


def revoke_token(name: str, actor: Actor) -> ApiToken:
    """Revoke a token; it stops working at once."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )
    if token is None:
        raise NotFound(f"No active token named {name}.")
    token.revoked_at = utcnow()
    audit.record("token.revoked", actor, f"token:{name}")
    db.session.commit()
    return token


def authenticate(raw: str | None) -> ApiToken | None:
    """Return the live token matching a raw value, or None.

    Raises TokenAttemptsExceeded (a 429) without looking anything up once the client IP has
    failed TOKEN_FAILURE_RATE_LIMIT times; only values that would cost a lookup are counted.
    """
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    ratelimits.check_token_failures()
    digest = hash_token(raw)
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )
    # The lookup is by hash; compare again in constant time as a belt-and-braces check.
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        ratelimits.note_token_failure()
        return None
    return token


TOKEN_USE_AUDIT_INTERVAL = timedelta(hours=1)


def note_use(token: ApiToken, actor: Actor, path: str | None = None) -> None:
    """Stamp last_used_at and audit `token.used`, at most once per token per hour."""
    audit.record_at_most_every(
        ApiToken.last_used_at, token.id, TOKEN_USE_AUDIT_INTERVAL,
        "token.used", actor, f"token:{token.name}", {"path": path},
    )
    db.session.commit()


def note_denied(token: ApiToken, actor: Actor, path: str, method: str) -> None:
    """Audit `admin.denied` for a token without the admin scope, at most once per token per interval."""
    audit.record_at_most_every(
        ApiToken.last_denied_at, token.id, audit.DENIED_AUDIT_INTERVAL,
        "admin.denied", actor, path, {"method": method},
    )
    db.session.commit()


def list_tokens() -> list[ApiToken]:
    """Return every token, newest first."""
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())))
