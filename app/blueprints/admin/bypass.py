"""Bypass links: generate one (its URL shown once), revoke one; the dashboard lists the live ones."""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask_babel import gettext

from ...inputs import database_id
from ...ratelimits import bypass_link_limit
from ...services import ServiceError
from ...services import bypass as bypass_service
from ..auth import request_actor
from . import panels
from .dashboard import no_store, render_panel

bp = Blueprint("bypass", __name__, url_prefix="/bypass-links")


def _answer(
    notice: str | None = None, error: ServiceError | None = None, new_url: str | None = None
) -> Response:
    """Answer a bypass-link change with the whole panel (fresh state version, no reload loop)."""
    status = 200
    if error is not None:
        status = 422 if error.status == 400 else 409  # the statuses htmx swaps (see _head.html)
    card = panels.bypass(new_url=new_url, error=error.message if error is not None else None)
    return no_store(render_panel(status=status, notice=notice, bypass=card))  # it may hold a link's secret


@bp.post("")
@bypass_link_limit
def create() -> Response:
    """Make a link and show it once; it is never displayed again."""
    try:
        _, raw = bypass_service.create_link(
            request_actor(), request.form.get("expires"), request.form.get("window_id", type=database_id)
        )
    except ServiceError as exc:
        return _answer(error=exc)
    return _answer(
        notice=gettext("Bypass link created. Copy it now: it is shown only once."),
        new_url=bypass_service.link_url(raw),
    )


@bp.post("/<int:link_id>/revoke")
def revoke(link_id: int) -> Response:
    """Revoke a link; every browser holding its cookie is blocked again at once."""
    try:
        bypass_service.revoke_link(link_id, request_actor())
    except ServiceError as exc:
        return _answer(error=exc)
    return _answer(notice=gettext("Bypass link revoked."))
