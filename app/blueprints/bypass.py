"""Bypass links: `/bypass/<token>` sets the signed cookie that lets a tester through maintenance.

Mounted twice: at /bypass for Pausa's own pages and under the visitors' prefix
(/_pausa/bypass/<token>), where the cookie lands on the protected system's site.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from pausa_gate.cookies import COOKIE
from pausa_gate.windows import utcnow

from ..extensions import db, limiter
from ..security import request_actor
from ..services import audit
from ..services import bypass as bypass_service

bp = Blueprint("bypass", __name__, url_prefix="/bypass")


@bp.get("/<token>")
@limiter.limit("30 per minute")
def redeem(token: str) -> Response:
    """Check the link; set the bypass cookie until the link or its window ends, then go home."""
    now = utcnow()
    try:
        link, expires_at = bypass_service.redeem(token, now)
    except bypass_service.LinkRefused as refused:
        db.session.rollback()
        response = Response(
            render_template("bypass/invalid.html", message=_refusal_text(refused.code)), status=refused.status
        )
        return _private(response)
    if not bypass_service.holds_cookie(request.cookies.get(COOKIE), link):  # audit each browser once
        audit.record(
            "bypass.link_used", request_actor(), f"bypass_link:{link.id}", {"window_id": link.window_id}
        )
        db.session.commit()
    # The site's home: through the edge gate, the protected system's (no SCRIPT_NAME there).
    response = redirect(url_for("site.home"))
    response.set_cookie(
        COOKIE,
        bypass_service.cookie_value(link),
        max_age=max(1, int((expires_at - now).total_seconds())),
        expires=expires_at,
        path="/",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return _private(response)


def _refusal_text(code: str) -> str:
    """Say why a link was refused, in the viewer's language."""
    if code == "revoked":
        return gettext("This bypass link was revoked by an admin.")
    if code == "expired":
        return gettext("This bypass link has expired, or the maintenance window it was made for is over.")
    return gettext("This bypass link is not valid. Check that it was copied whole.")


def _private(response: Response) -> Response:
    """Never cache a link's answer, and never leak its token in a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
