"""The links in emails: encrypted tokens naming a subscriber (unsubscribe, confirm) and their URLs."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app, has_request_context, url_for
from pausa_gate.windows import utcnow

from ...mail import public_url
from ...models import Subscriber

# One key per purpose, so a token made for one link is refused by every other.
UNSUBSCRIBE_SALT = "pausa.unsubscribe"
CONFIRM_SALT = "pausa.standing.confirm"
STANDING_UNSUBSCRIBE_SALT = "pausa.standing.unsubscribe"


def salted_fernet(salt: str) -> MultiFernet:
    """Encrypt with SECRET_KEY; also read tokens made with SECRET_KEY_FALLBACKS (links already emailed)."""
    config = current_app.config
    keys = (config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ()))
    return MultiFernet(
        [Fernet(base64.urlsafe_b64encode(hashlib.sha256(f"{key}|{salt}".encode()).digest())) for key in keys]
    )


def _token(salt: str, subscriber_id: int) -> str:
    return salted_fernet(salt).encrypt(str(subscriber_id).encode()).decode().rstrip("=")


def _read_token(salt: str, token: str, ttl: int | None = None, now: datetime | None = None) -> int | None:
    """The id a token names, or None when it was not made by us (or is older than `ttl` seconds)."""
    try:
        padded = (token + "=" * (-len(token) % 4)).encode()
        fernet = salted_fernet(salt)
        if ttl is None:
            value = fernet.decrypt(padded).decode()
        else:
            value = fernet.decrypt_at_time(padded, ttl, int((now or utcnow()).timestamp())).decode()
    except (InvalidToken, ValueError):
        return None
    return int(value) if value.isdigit() else None


def _fernet() -> MultiFernet:
    """Encrypt (not just sign) the id: readable sequential ids would tell a visitor whether
    an address had already subscribed (an older id), which the form promises never to reveal."""
    return salted_fernet(UNSUBSCRIBE_SALT)


def unsubscribe_token(subscriber_id: int) -> str:
    return _fernet().encrypt(str(subscriber_id).encode()).decode().rstrip("=")


def read_unsubscribe_token(token: str) -> int | None:
    """The subscriber id a token names, or None when it was not made by us."""
    try:
        value = _fernet().decrypt((token + "=" * (-len(token) % 4)).encode()).decode()
    except (InvalidToken, ValueError):
        return None
    return int(value) if value.isdigit() else None


def unsubscribe_url(subscriber: Subscriber | int, base_url: str | None = None) -> str:
    """The one-click unsubscribe link for emails: from this request, else `base_url`/PUBLIC_URL."""
    subscriber_id = subscriber if isinstance(subscriber, int) else subscriber.id
    token = unsubscribe_token(subscriber_id)
    if base_url is None and has_request_context():
        return url_for("public.unsubscribe", token=token, _external=True)
    base = base_url or current_app.config.get("PUBLIC_URL") or "http://localhost:5000"
    return f"{base.rstrip('/')}/maintenance/unsubscribe/{token}"


def confirm_token(subscriber_id: int) -> str:
    return _token(CONFIRM_SALT, subscriber_id)


def standing_unsubscribe_token(subscriber_id: int) -> str:
    return _token(STANDING_UNSUBSCRIBE_SALT, subscriber_id)


def read_standing_unsubscribe_token(token: str) -> int | None:
    return _read_token(STANDING_UNSUBSCRIBE_SALT, token)


def _site_link(path: str) -> str:
    return public_url() + path.lstrip("/")


def confirm_url(subscriber_id: int) -> str:
    return _site_link(f"status/confirm/{confirm_token(subscriber_id)}")


def standing_unsubscribe_url(subscriber_id: int) -> str:
    return _site_link(f"status/unsubscribe/{standing_unsubscribe_token(subscriber_id)}")


def read_confirm_token(token: str, now: datetime | None = None) -> int | None:
    """The subscriber a confirmation link names, or None when it is forged or has expired."""
    ttl = int(current_app.config["NOTICE_CONFIRM_HOURS"]) * 3600
    return _read_token(CONFIRM_SALT, token, ttl=ttl, now=now)
