"""Use cases of people: create, change role or password, authenticate."""

from __future__ import annotations

import secrets

from pausa_gate.state import ROLES, Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ..extensions import db
from ..inputs import normalise_email
from ..models import User
from . import Conflict, NotFound, ServiceError, audit, sessions

MIN_PASSWORD_LENGTH = 10
# Checked against when the email is unknown, so both answers take the same time.
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16))


def _check_role(role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise ServiceError(f"Unknown role {role!r}; roles are: {', '.join(ROLES)}.")
    return role


def create_user(email: str, role: str, password: str, actor: Actor) -> User:
    """Create a user; the audit entry never contains the password."""
    email = normalise_email(email)
    role = _check_role(role)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"A user with the email {email} already exists.")
    user = User(email=email, role=role)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record("user.created", actor, f"user:{email}", {"role": role})
    db.session.commit()
    return user


def set_role(email: str, role: str, actor: Actor) -> User:
    """Change a user's role."""
    role = _check_role(role)
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    before = user.role
    user.role = role
    audit.record("user.role_changed", actor, f"user:{user.email}", {"before": before, "after": role})
    if before != role:
        # Rights follow the role at once; signing in again makes the change plain to the user.
        sessions.revoke_all(user, actor, sessions.ROLE_CHANGED)
    db.session.commit()
    return user


def set_password(email: str, password: str, actor: Actor) -> User:
    """Change a user's password and sign them out everywhere; the audit entry never contains it."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"The password needs at least {MIN_PASSWORD_LENGTH} characters.")
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound(f"No user with the email {email}.")
    user.set_password(password)
    audit.record("user.password_changed", actor, f"user:{user.email}")
    sessions.revoke_all(user, actor, sessions.PASSWORD_CHANGED)
    db.session.commit()
    return user


def note_denied(user: User, actor: Actor, path: str, method: str) -> None:
    """Audit `admin.denied` for a non-admin, at most once per user per interval."""
    audit.record_at_most_every(
        User.last_denied_at, user.id, audit.DENIED_AUDIT_INTERVAL,
        "admin.denied", actor, path, {"method": method},
    )
    db.session.commit()


def list_users() -> list[User]:
    """Return every user, by email."""
    return list(db.session.scalars(select(User).order_by(User.email)))


def authenticate(email: str, password: str, actor: Actor) -> User | None:
    """Return the user when the credentials match; audit success and failure alike."""
    try:
        email = normalise_email(email)
    except ServiceError:
        email = email.strip().lower()[:254]
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        User(password_hash=_DUMMY_HASH).check_password(password)
        ok = False
    else:
        ok = user.check_password(password)
    if ok:
        user.last_login_at = utcnow()
        audit.record("auth.login", actor, f"user:{email}")
    else:
        audit.record("auth.login_failed", actor, f"user:{email}")
    db.session.commit()
    return user if ok else None


def bootstrap_admin(email: str, actor: Actor) -> tuple[User, str] | None:
    """Create the first admin with a random password, unless an admin exists."""
    if db.session.scalar(select(User.id).where(User.role == "admin").limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(15)
    return create_user(email, "admin", password, actor), password
