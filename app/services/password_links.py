"""One-time set-password links: a first admin whose password never appears in a build log.

A link signs the user's id and a fingerprint of their current password hash with SECRET_KEY
(older keys in SECRET_KEY_FALLBACKS still verify, docs/runbook.md):
setting a password changes the hash, so the link (and every other link made before) stops
working, and it expires after PASSWORD_LINK_HOURS. See docs/deploy.md.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pausa_gate.state import Actor
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..inputs import normalise_email
from ..models import User
from . import NotFound, ServiceError, audit, sessions
from .users import MIN_PASSWORD_LENGTH

SALT = "pausa.set-password"
PATH = "/auth/set-password/"


class LinkUnusable(ServiceError):
    """The link is forged or malformed (400), or expired or already used (410)."""


class LinkGone(LinkUnusable):
    status = 410


def _serializer() -> URLSafeTimedSerializer:
    """Sign with SECRET_KEY; also accept links signed with SECRET_KEY_FALLBACKS (made before a rotation)."""
    config = current_app.config
    # itsdangerous signs with the last key of the list and verifies with any of them.
    keys = [*reversed(config.get("SECRET_KEY_FALLBACKS") or ()), config["SECRET_KEY"]]
    return URLSafeTimedSerializer(keys, salt=SALT)


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:32]


def make_token(user: User) -> str:
    """Sign a token that lets its holder set `user`'s password once."""
    return _serializer().dumps({"user": user.id, "fingerprint": _fingerprint(user)})


def issue_link(email: str, actor: Actor) -> tuple[User, str]:
    """Make a fresh link for the user with this email and audit that one was issued (never the link)."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    url = link_url(make_token(user))
    audit.record("user.password_link_issued", actor, f"user:{user.email}")
    db.session.commit()
    return user, url


def link_url(token: str) -> str:
    """Return the link on PUBLIC_URL, or only its path (under SCRIPT_NAME) when PUBLIC_URL is unset."""
    config = current_app.config
    path = f"{config['SCRIPT_NAME']}{PATH}{token}"
    return f"{config['PUBLIC_URL'].rstrip('/')}{path}" if config.get("PUBLIC_URL") else path


def user_for(token: str) -> User:
    """Return the user a token is for, while it is unexpired and unused; raise LinkUnusable otherwise."""
    hours = current_app.config["PASSWORD_LINK_HOURS"]
    try:
        payload = _serializer().loads(token, max_age=int(hours * 3600))
    except SignatureExpired:
        raise LinkGone("This link has expired. Ask for a new one.") from None
    except BadSignature:
        raise LinkUnusable("This link is not valid. Check that it was copied whole.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        raise LinkUnusable("This link is not valid. Check that it was copied whole.")
    user = db.session.get(User, payload["user"])
    if user is None or not hmac.compare_digest(str(payload.get("fingerprint", "")), _fingerprint(user)):
        raise LinkGone("This link was already used, or the password was changed since. Ask for a new one.")
    return user


def set_password(token: str, password: str, actor: Actor) -> User:
    """Set the password a link is for, once; every session of the user ends and it is audited."""
    user = user_for(token)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    # Only while the hash is still the one the link was made for: of two racing uses, one wins.
    changed = db.session.execute(
        update(User)
        .where(User.id == user.id, User.password_hash == user.password_hash)
        .values(password_hash=generate_password_hash(password))
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise LinkGone("This link was already used, or the password was changed since. Ask for a new one.")
    db.session.refresh(user)
    audit.record("user.password_set", actor, f"user:{user.email}", {"by": "link"})
    sessions.revoke_all(user, actor, sessions.PASSWORD_CHANGED)
    db.session.commit()
    return user
