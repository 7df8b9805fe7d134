"""The bypass cookie, checked the same way by every gate: in-app, at the edge and in a host app.

Opening a bypass link sets `pausa_bypass=<link id>.<secret>`. The state lists
each live link with the SHA-256 of its secret, so any gate that holds the state
checks a cookie without any secret of Pausa's, and a revoked or expired link
stops working wherever the next state version arrives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from .state import GateState

COOKIE = "pausa_bypass"
MAX_LENGTH = 200


def cookie_value(link_id: int, secret: str) -> str:
    """Return what the cookie holds for a link."""
    return f"{link_id}.{secret}"


def digest(secret: str) -> str:
    """Return what the state publishes about a cookie's secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def derive_secret(key: bytes, token_hash: str) -> str:
    """Derive a link's cookie secret from the server's key and the link's token hash."""
    mac = hmac.new(key, b"pausa.bypass-cookie:" + token_hash.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def bypass_window_id(value: str | None, state: GateState, now: datetime) -> int | None:
    """Return the window a bypass cookie lets through now, or None (forged, revoked, expired)."""
    if not value or len(value) > MAX_LENGTH:
        return None
    link_text, _, secret = value.strip('"').partition(".")
    if not link_text.isdigit() or not secret:
        return None
    link_id = int(link_text)
    for key in state.bypass_links:
        if key.link_id == link_id:
            given = digest(secret)
            # Check every digest (no early exit) so the time taken does not say which key matched.
            matched = False
            for known in (key.cookie_digest, *key.fallback_digests):
                matched |= hmac.compare_digest(known, given)
            if key.expires_at <= now or not matched:
                return None
            return key.window_id
    return None
