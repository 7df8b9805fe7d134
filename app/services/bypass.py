"""Use cases of bypass links: create (shown once), revoke, redeem, and the cookie they set.

A bypass link lets a tester through one maintenance window without an
account. Only the SHA-256 of its token is stored. Opening it sets a cookie
`<link id>.<secret>`, the secret derived from SECRET_KEY and the token's hash;
the gate state (app/services/state.py) lists each live link with a digest of
that secret and its expiry, so every gate (in-app, edge, a host app's
middleware) checks the cookie without holding any secret, and a revocation
(which moves the state version) reaches every gate with the next state. Rotating SECRET_KEY with
the old key in SECRET_KEY_FALLBACKS keeps cookies already set working (the
state also lists their digests under each fallback key); without it, holders
open their link again.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, has_request_context, url_for
from pausa_gate import cookies
from pausa_gate.state import Actor
from pausa_gate.windows import LIVE_STATUSES, is_in_effect, utcnow
from sqlalchemy import select

from ..extensions import db
from ..models import BypassLink, MaintenanceWindow
from . import NotFound, ServiceError, audit
from .state import bump_version, link_secret, live_windows

TOKEN_BYTES = 32
DEFAULT_EXPIRY = "12h"
MAX_EXPIRY = timedelta(hours=48)
EXPIRY_CHOICES = ("1h", "2h", "4h", "8h", "12h", "24h")
_DURATION = re.compile(r"^\s*(\d{1,5})\s*(m|h|d)\s*$", re.IGNORECASE)
_UNIT = {"m": 60, "h": 3600, "d": 86400}


class LinkRefused(ServiceError):
    """A link that cannot be redeemed: `unknown` (404), `revoked` or `expired` (410)."""

    def __init__(self, message: str, status: int, code: str):
        super().__init__(message)
        self.status = status
        self.code = code


def hash_token(raw: str) -> str:
    """Hash a link's token for storage and lookup; the raw token is never stored."""
    return hashlib.sha256(raw.encode()).hexdigest()


def parse_expiry(text: str | None) -> timedelta:
    """Read `30m`, `2h`, `1d` (default 12h); refuse anything else or more than 48 h."""
    match = _DURATION.match(text or DEFAULT_EXPIRY)
    if match is None:
        raise ServiceError("Give the expiry as a duration such as 30m, 2h or 1d.")
    duration = timedelta(seconds=int(match.group(1)) * _UNIT[match.group(2).lower()])
    if duration <= timedelta(0) or duration > MAX_EXPIRY:
        raise ServiceError("A bypass link lasts between 1 minute and 48 hours.")
    return duration


def _is_live(window: MaintenanceWindow, now: datetime) -> bool:
    """Tell whether the window is in effect now or still to come (so a link for it makes sense)."""
    state = window.to_state()
    if state.status not in LIVE_STATUSES:
        return False
    return is_in_effect(state, now) or now < state.starts_at


def target_window(now: datetime | None = None, window_id: int | None = None) -> MaintenanceWindow | None:
    """Return the window a new link is for: the given one, else the one in effect, else the next scheduled."""
    now = now or utcnow()
    if window_id is not None:
        window = db.session.get(MaintenanceWindow, window_id)
        return window if window is not None and _is_live(window, now) else None
    live = [window for window in live_windows() if _is_live(window, now)]
    in_effect = [window for window in live if is_in_effect(window.to_state(), now)]
    return (in_effect or live or [None])[0]


def create_link(
    actor: Actor,
    expires: str | None = None,
    window_id: int | None = None,
    now: datetime | None = None,
) -> tuple[BypassLink, str]:
    """Create a link for the active (or next scheduled) window; return it with its raw token, shown once.

    It expires after `expires` (counted from the window's start when the window
    is still to come) or when the window ends, whichever is sooner.
    """
    now = now or utcnow()
    duration = parse_expiry(expires)
    bump_version()  # the new id joins every worker's live set; also serialises with window changes
    window = target_window(now, window_id)
    if window is None:
        db.session.rollback()
        raise NotFound("No maintenance window is active or scheduled: there is nothing to bypass.")
    expires_at = max(now, window.starts_at) + duration
    if window.ends_at is not None:
        expires_at = min(expires_at, window.ends_at)
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    link = BypassLink(
        token_hash=hash_token(raw),
        window_id=window.id,
        created_by=actor.name,
        created_at=now,
        expires_at=expires_at,
    )
    db.session.add(link)
    db.session.flush()
    audit.record(
        "bypass.link_created",
        actor,
        f"bypass_link:{link.id}",
        {"window_id": window.id, "expires_at": expires_at.isoformat()},
    )
    db.session.commit()
    return link, raw


def revoke_link(link_id: int, actor: Actor, now: datetime | None = None) -> BypassLink:
    """Revoke a link: every browser holding its cookie is blocked again on every worker."""
    now = now or utcnow()
    bump_version()
    link = db.session.get(BypassLink, link_id)
    if link is None or link.revoked_at is not None:
        db.session.rollback()
        raise NotFound(f"No live bypass link {link_id}.")
    link.revoked_at = now
    audit.record("bypass.link_revoked", actor, f"bypass_link:{link.id}", {"window_id": link.window_id})
    db.session.commit()
    return link


def live_links(now: datetime | None = None, window_id: int | None = None) -> list[BypassLink]:
    """Return the links that still work (not revoked, not expired, window live), newest first."""
    now = now or utcnow()
    query = (
        select(BypassLink, MaintenanceWindow)
        .join(MaintenanceWindow, MaintenanceWindow.id == BypassLink.window_id)
        .where(BypassLink.revoked_at.is_(None), BypassLink.expires_at > now)
        .order_by(BypassLink.id.desc())
    )
    if window_id is not None:
        query = query.where(BypassLink.window_id == window_id)
    return [link for link, window in db.session.execute(query) if _is_live(window, now)]


def redeem(raw: str, now: datetime | None = None) -> tuple[BypassLink, datetime]:
    """Check a link's token; return the link and when its cookie must expire, or refuse."""
    now = now or utcnow()
    if not raw or len(raw) > 200:
        raise LinkRefused("This bypass link is not valid.", 404, "unknown")
    digest = hash_token(raw)
    link = db.session.scalar(select(BypassLink).where(BypassLink.token_hash == digest))
    # The lookup is by hash; compare again in constant time as a belt-and-braces check.
    if link is None or not hmac.compare_digest(link.token_hash, digest):
        raise LinkRefused("This bypass link is not valid.", 404, "unknown")
    window = db.session.get(MaintenanceWindow, link.window_id)
    if link.revoked_at is not None:
        raise LinkRefused("This bypass link was revoked.", 410, "revoked")
    if link.expires_at <= now or window is None or not _is_live(window, now):
        raise LinkRefused("This bypass link has expired or its maintenance window is over.", 410, "expired")
    expires_at = link.expires_at
    if window.ends_at is not None:
        expires_at = min(expires_at, window.ends_at)
    return link, expires_at


def cookie_value(link: BypassLink) -> str:
    """Return the cookie that lets a browser through the link's window while the link lives."""
    return cookies.cookie_value(link.id, link_secret(link))


def holds_cookie(value: str | None, link: BypassLink) -> bool:
    """Tell whether a browser already holds this link's cookie (to audit each browser once)."""
    return value is not None and hmac.compare_digest(value, cookie_value(link))


def link_url(raw: str, base_url: str | None = None) -> str:
    """Return the full URL of a link, under the visitors' prefix so it works in front of any system.

    On `base_url` when given, else on the protected system's site (GATE_SITE_URL), else on
    this request's site, else on PUBLIC_URL.
    """
    config = current_app.config
    base_url = base_url or config.get("GATE_SITE_URL")
    if base_url is None and has_request_context():
        return url_for("visitor_bypass.redeem", token=raw, _external=True)
    base = base_url or config.get("PUBLIC_URL") or "http://localhost:5000"
    return f"{base.rstrip('/')}{config['GATE_PUBLIC_PREFIX']}/bypass/{raw}"


def link_json(link: BypassLink) -> dict[str, Any]:
    """Describe a link for admins (never its token)."""
    return {
        "id": link.id,
        "window_id": link.window_id,
        "created_by": link.created_by,
        "created_at": link.created_at.isoformat(),
        "expires_at": link.expires_at.isoformat(),
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
    }
