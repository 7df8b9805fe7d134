"""Use cases of sign-in sessions: open one, find the live one, revoke one or all of a user's.

The login cookie is signed, but a copy of it stays valid for as long as the server accepts
it. So every sign-in gets a row in user_sessions, the cookie carries a random key naming
that row (only the key's SHA-256 is stored), and a request is signed in only while the row
is not revoked. See docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select, update

from ..extensions import db
from ..inputs import normalise_email
from ..models import User, UserSession
from . import NotFound, audit

# The key of the Flask session entry that holds this sign-in's random key.
COOKIE_KEY = "pausa_sid"
KEY_BYTES = 32

# Why a session ended (user_sessions.revoked_reason and the audit details).
LOGOUT = "logout"
SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
PASSWORD_CHANGED = "password_changed"
ROLE_CHANGED = "role_changed"
CLIENT_CHANGED = "client_changed"


def hash_key(raw: str) -> str:
    """Hash a session key for storage and lookup; the raw key lives only in the signed cookie."""
    return hashlib.sha256(raw.encode()).hexdigest()


def open_session(user: User, actor: Actor) -> str:
    """Record a new sign-in of `user` from the actor's client and return its raw key."""
    raw = secrets.token_urlsafe(KEY_BYTES)
    db.session.add(
        UserSession(
            user_id=user.id,
            key_hash=hash_key(raw),
            created_at=utcnow(),
            ip=(actor.ip or None) and actor.ip[:64],
            user_agent=(actor.user_agent or None) and actor.user_agent[:256],
        )
    )
    db.session.commit()
    return raw


def live_session(user_id: str, raw: str | None) -> tuple[User, UserSession] | None:
    """Return the user and session a cookie names, only while that session is not revoked."""
    if not raw or not isinstance(raw, str) or len(raw) > 100:
        return None
    try:
        wanted_user = int(user_id)
    except (TypeError, ValueError):
        return None
    digest = hash_key(raw)
    row = db.session.execute(
        select(User, UserSession)
        .join(UserSession, UserSession.user_id == User.id)
        .where(UserSession.key_hash == digest, UserSession.revoked_at.is_(None))
    ).first()
    # The lookup is by hash; compare again in constant time as a belt-and-braces check.
    if row is None or row[0].id != wanted_user or not hmac.compare_digest(row[1].key_hash, digest):
        return None
    return row[0], row[1]


def same_client(record: UserSession, ip: str | None, user_agent: str | None) -> bool:
    """Tell whether a request comes from the client (IP and user agent) that signed in."""
    return record.ip == ((ip or None) and ip[:64]) and record.user_agent == (
        (user_agent or None) and user_agent[:256]
    )


def _revoke(record: UserSession, reason: str) -> None:
    record.revoked_at = utcnow()
    record.revoked_reason = reason


def end_session(raw: str | None, actor: Actor) -> bool:
    """Sign out: revoke the session this cookie names and audit `auth.logout`."""
    if not raw or not isinstance(raw, str):
        return False
    record = db.session.scalar(
        select(UserSession).where(UserSession.key_hash == hash_key(raw), UserSession.revoked_at.is_(None))
    )
    if record is None:
        return False
    user = db.session.get(User, record.user_id)
    _revoke(record, LOGOUT)
    audit.record("auth.logout", actor, f"user:{user.email}" if user else None, {"session_id": record.id})
    db.session.commit()
    return True


def end_for_client_change(record: UserSession, user: User, actor: Actor) -> None:
    """Revoke an admin's session used from another client, so a copied cookie is dead for good."""
    _revoke(record, CLIENT_CHANGED)
    audit.record(
        "auth.session_revoked", actor, f"user:{user.email}",
        {"reason": CLIENT_CHANGED, "session_id": record.id, "signed_in_from": record.ip},
    )
    db.session.commit()


def revoke_all(user: User, actor: Actor, reason: str) -> int:
    """Revoke every live session of `user` and audit it, in the caller's transaction (it commits)."""
    count = db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    audit.record("auth.sessions_revoked", actor, f"user:{user.email}", {"reason": reason, "sessions": count})
    return count


def sign_out_everywhere(email: str, actor: Actor) -> int:
    """Revoke every session of the user with this email; return how many were live."""
    email = normalise_email(email)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    count = revoke_all(user, actor, SIGN_OUT_EVERYWHERE)
    db.session.commit()
    return count
