"""The bypass cookie: signed by Pausa, read by every gate (in-app, fast path, edge) without Flask.

Opening a bypass link sets it; it names the link and its window and expires
with the link. A gate honours it only while the link's id is in the state's
live set, so a revocation reaches every gate with the next state version.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from ..maintenance.windows import utcnow

COOKIE = "pausa_bypass"
SALT = "pausa.bypass-cookie"
MAX_LENGTH = 400


class BypassCookies:
    """Sign with the newest key, verify with every key still accepted (key rotation)."""

    def __init__(self, keys: Sequence[str | bytes]):
        # itsdangerous signs with the last key and verifies with all of them.
        self._serializer = URLSafeSerializer(list(keys), salt=SALT)

    def sign(self, link_id: int, window_id: int, expires_at: datetime) -> str:
        """Return the cookie value that lets a browser through `window_id` until `expires_at`."""
        return self._serializer.dumps({"l": link_id, "w": window_id, "e": int(expires_at.timestamp())})

    def read(self, value: str | None, now: datetime | None = None) -> dict[str, int] | None:
        """Return the cookie's contents when it is authentic and unexpired, else None."""
        if not value or len(value) > MAX_LENGTH:
            return None
        try:
            payload: Any = self._serializer.loads(value)  # constant-time signature check
        except BadSignature:
            return None
        if not isinstance(payload, dict) or not all(isinstance(payload.get(k), int) for k in ("l", "w", "e")):
            return None
        if payload["e"] <= (now or utcnow()).timestamp():
            return None
        return payload

    def window_id(
        self, value: str | None, live_links: frozenset[int], now: datetime | None = None
    ) -> int | None:
        """Return the window the cookie lets through, only while its link is live."""
        payload = self.read(value, now)
        if payload is None or payload["l"] not in live_links:
            return None
        return payload["w"]


def keys_of(config: Any) -> list[str | bytes]:
    """Return the app's signing keys, oldest first (SECRET_KEY_FALLBACKS, then SECRET_KEY)."""
    return [*(config.get("SECRET_KEY_FALLBACKS") or ()), config["SECRET_KEY"]]


def read_cookie_header(header: str, name: str) -> str | None:
    """Read one cookie's value from a raw Cookie header, without parsing them all."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
