"""Use cases of API tokens: create (shown once), list, rotate (shown once), revoke, authenticate.

A token may expire (`expires_at`); an expired one is refused like an unknown one. Rotation gives
the same token (name, scopes, expiry) a new secret and keeps the previous one working until
`previous_valid_until`, so a deploy pipeline can switch without a moment where neither works;
rotating again during that grace period ends the older secret. See docs/tokens.md.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, request
from flask_babel import gettext
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import or_, select

from .. import ratelimits
from ..extensions import db
from ..maintenance.validation import ValidationError
from ..models import ApiToken
from . import Conflict, NotFound, audit

# admin: the JSON admin API; bypass: through maintenance; gate: read the state feed (/gate/state).
SCOPES = ("admin", "bypass", "gate")
PREFIX = "pausa_"
NAME_MAX = 80
FIELDS = ("name", "scopes", "expires")

MAX_EXPIRY = timedelta(days=365)
DEFAULT_GRACE = "1h"
MAX_GRACE = timedelta(days=7)
# What the dashboard offers; the CLI and the API take any duration within the limits.
EXPIRY_CHOICES = ("7d", "30d", "90d", "365d")
GRACE_CHOICES = ("0m", "15m", "1h", "24h")
_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|h|d)\s*$", re.IGNORECASE)
_UNIT = {"m": 60, "h": 3600, "d": 86400}

# last_used_at is stamped at most this often, with the `token.used` audit entry: a write per
# request would cost more than the request. So the last use is within this long after it.
TOKEN_USE_AUDIT_INTERVAL = timedelta(hours=1)


def hash_token(raw: str) -> str:
    """Hash a token for storage and lookup; the raw token is never stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def _duration(text: str) -> timedelta | None:
    match = _DURATION.match(text)
    if match is None:
        return None
    return timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2).lower()])


def parse_expiry(text: Any) -> timedelta | None:
    """Read `30m`, `12h`, `30d` (at most 365d); None, "" or "never": the token never expires."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "never")):
        return None
    duration = _duration(text) if isinstance(text, str) else None
    if duration is None:
        raise ValueError(gettext("Give the expiry as a duration such as 30m, 12h or 30d, or never."))
    if duration <= timedelta(0) or duration > MAX_EXPIRY:
        raise ValueError(gettext("A token lasts between 1 minute and 365 days (or never expires)."))
    return duration


def parse_grace(text: Any) -> timedelta:
    """Read how long the previous secret keeps working: `0m` (not at all) to `7d`; default 1h."""
    if text is None or (isinstance(text, str) and not text.strip()):
        text = DEFAULT_GRACE
    duration = _duration(text) if isinstance(text, str) else None
    if duration is None:
        raise ValueError(gettext("Give the grace period as a duration such as 0m, 15m, 1h or 1d."))
    if duration > MAX_GRACE:
        raise ValueError(gettext("The previous secret keeps working at most 7 days."))
    return duration


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return gettext("Give the token a name.")
    name = name.strip()
    if len(name) > NAME_MAX or not all(c.isascii() and (c.isalnum() or c in "-_.") for c in name):
        return gettext("A token name is 1-80 letters, digits, '-', '_' or '.'.")
    return None


@dataclass(frozen=True)
class NewToken:
    """A token's checked fields, before it is made."""

    name: str
    scopes: list[str]
    expires_in: timedelta | None


def check_new(body: dict[str, Any]) -> NewToken:
    """Return the token to make, or raise ValidationError naming every bad field."""
    fields = {name: gettext("Unknown field.") for name in body if name not in FIELDS}
    name, scopes, expires = body.get("name"), body.get("scopes"), body.get("expires")
    if (problem := _name_problem(name)) is not None:
        fields["name"] = problem
    if scopes is None or scopes == []:
        scopes = ["admin"]
    if not isinstance(scopes, list | tuple) or not all(isinstance(scope, str) for scope in scopes):
        fields["scopes"] = gettext("Give a list of scopes among: %(scopes)s.", scopes=", ".join(SCOPES))
    elif unknown := [scope for scope in scopes if scope not in SCOPES]:
        fields["scopes"] = gettext(
            "Unknown scope '%(scope)s'; scopes are: %(scopes)s.",
            scope=unknown[0][:40], scopes=", ".join(SCOPES),
        )
    expires_in = None
    try:
        expires_in = parse_expiry(expires)
    except ValueError as error:
        fields["expires"] = str(error)
    if fields:
        raise ValidationError(fields)
    return NewToken(name.strip(), sorted(set(scopes)), expires_in)


def create_token(
    name: str,
    scopes: list[str],
    actor: Actor,
    expires: str | None = None,
    now: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token and return it with its raw value, which is never shown again.

    `expires` is a duration from now (`30d`); None never expires. Raises ValidationError for bad
    fields and Conflict when the name is taken.
    """
    new = check_new({"name": name, "scopes": list(scopes or []), "expires": expires})
    now = now or utcnow()
    if db.session.scalar(select(ApiToken.id).where(ApiToken.name == new.name)) is not None:
        raise Conflict(gettext("A token named %(name)s already exists.", name=new.name))
    raw = PREFIX + secrets.token_urlsafe(32)
    expires_at = now + new.expires_in if new.expires_in is not None else None
    token = ApiToken(
        name=new.name, token_hash=hash_token(raw), scopes=" ".join(new.scopes), created_by=actor.name,
        created_at=now, expires_at=expires_at,
    )
    db.session.add(token)
    db.session.flush()
    audit.record("token.created", actor, f"token:{new.name}", {
        "scopes": new.scopes, "expires_at": expires_at.isoformat() if expires_at else None,
    })
    db.session.commit()
    return token, raw


def _live_or_404(name: str) -> ApiToken:
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None)).with_for_update()
    )
    if token is None:
        db.session.rollback()
        raise NotFound(gettext("No active token named %(name)s.", name=name[:NAME_MAX]))
    return token


def revoke_token(name: str, actor: Actor, now: datetime | None = None) -> ApiToken:
    """Revoke a token; it (and a previous secret in its grace period) stops working at once.

    A token cannot revoke itself: a script that does so cuts itself off halfway, and it is
    nearly always a mistake; another token, the dashboard or the CLI can.
    """
    if actor.name == f"token:{name}":
        raise Conflict(gettext("A token cannot revoke itself; use another token, the dashboard or the CLI."))
    token = _live_or_404(name)
    token.revoked_at = now or utcnow()
    audit.record("token.revoked", actor, f"token:{name}")
    db.session.commit()
    return token


def rotate_token(
    name: str, actor: Actor, grace: str | None = None, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """Give a token a new secret (returned once); the previous one keeps working for `grace`.

    Name, scopes and expiry are kept. Rotating again during a grace period ends the older
    secret at once: only the one being replaced gets the new grace period. Raises
    ValidationError for a bad grace, NotFound for no live token, Conflict for an expired one.
    """
    try:
        duration = parse_grace(grace)
    except ValueError as error:
        raise ValidationError({"grace": str(error)}) from None
    now = now or utcnow()
    token = _live_or_404(name)
    if token.expires_at is not None and now >= token.expires_at:
        db.session.rollback()
        raise Conflict(gettext("Token %(name)s has expired; create a new one instead.", name=name))
    ended_older = token.previous_valid_until is not None and now < token.previous_valid_until
    raw = PREFIX + secrets.token_urlsafe(32)
    token.previous_token_hash = token.token_hash
    token.previous_valid_until = now + duration
    token.token_hash = hash_token(raw)
    token.rotated_at = now
    audit.record("token.rotated", actor, f"token:{name}", {
        "previous_valid_until": token.previous_valid_until.isoformat(),
        "ended_older_secret": ended_older,
    })
    db.session.commit()
    return token, raw


def authenticate(raw: str | None, now: datetime | None = None) -> ApiToken | None:
    """Return the live token matching a raw value (its secret or, in its grace period, the previous one).

    Unknown, revoked and expired tokens and previous secrets past their grace period all get
    None. Raises TokenAttemptsExceeded (a 429) without looking anything up once the client IP has
    failed TOKEN_FAILURE_RATE_LIMIT times; only values that would cost a lookup are counted.
    """
    if not raw or not raw.startswith(PREFIX) or len(raw) > 200:
        return None
    ratelimits.check_token_failures()
    digest = hash_token(raw)
    now = now or utcnow()
    token = db.session.scalar(
        select(ApiToken).where(
            or_(ApiToken.token_hash == digest, ApiToken.previous_token_hash == digest),
            ApiToken.revoked_at.is_(None),
        )
    )
    # The lookup is by hash; compare again in constant time as a belt-and-braces check.
    current = token is not None and hmac.compare_digest(token.token_hash, digest)
    previous = (
        token is not None and not current and token.previous_token_hash is not None
        and hmac.compare_digest(token.previous_token_hash, digest)
    )
    if not (current or previous):
        ratelimits.note_token_failure()
        return None
    if token.expires_at is not None and now >= token.expires_at:
        _note_expired_use(token, {"expired_at": token.expires_at.isoformat()})
        return None
    if previous and (token.previous_valid_until is None or now >= token.previous_valid_until):
        valid_until = token.previous_valid_until.isoformat() if token.previous_valid_until else None
        _note_expired_use(token, {"secret": "previous", "valid_until": valid_until})
        return None
    return token


def _note_expired_use(token: ApiToken, details: dict[str, Any]) -> None:
    """Count a failure and audit `token.expired_use`, at most once per token per hour."""
    ratelimits.note_token_failure()
    actor = Actor(f"token:{token.name}")
    if has_request_context():
        actor = Actor(actor.name, request.remote_addr, request.user_agent.string)
        details = {**details, "path": request.path}
    audit.record_at_most_every(
        ApiToken.last_expired_use_at, token.id, TOKEN_USE_AUDIT_INTERVAL,
        "token.expired_use", actor, f"token:{token.name}", details,
    )
    db.session.commit()


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


def state_of(token: ApiToken, now: datetime | None = None) -> str:
    """Name a token's state: revoked, expired, rotating (two secrets work) or live."""
    now = now or utcnow()
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    if token.previous_valid_until is not None and now < token.previous_valid_until:
        return "rotating"
    return "live"


def token_json(token: ApiToken, now: datetime | None = None) -> dict[str, Any]:
    """Describe a token for admins: everything but its secrets and their hashes."""
    state = state_of(token, now)

    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "name": token.name,
        "scopes": sorted(token.scope_set),
        "state": state,
        "created_at": moment(token.created_at),
        "created_by": token.created_by,
        "expires_at": moment(token.expires_at),
        "last_used_at": moment(token.last_used_at),
        "last_used_precision_seconds": int(TOKEN_USE_AUDIT_INTERVAL.total_seconds()),
        "rotated_at": moment(token.rotated_at),
        "previous_valid_until": moment(token.previous_valid_until) if state == "rotating" else None,
        "revoked_at": moment(token.revoked_at),
    }
