"""API tokens (docs/tokens.md): create, rotate, revoke.

A secret is shown once: right after the token is created, or rotated (the previous one then
works for the grace period chosen).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request
from flask_babel import gettext

from ...maintenance.validation import ValidationError
from ...ratelimits import state_change_limit
from ...services import ServiceError
from ...services import tokens as token_service
from ..auth import request_actor
from . import panels
from .dashboard import no_store, render_panel

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


def _answer(card: dict[str, Any], notice: str | None = None, status: int = 200) -> Response:
    # no_store: the card may hold a secret.
    return no_store(render_panel(status=status, notice=notice, tokens=card))


def _refused(exc: ServiceError, kept: dict[str, Any] | None = None) -> Response:
    card = panels.tokens(errors={"form": exc.message}, kept=kept)
    return _answer(card, status=422 if exc.status == 400 else 409)  # the statuses htmx swaps


@bp.post("")
@state_change_limit
def create() -> Response:
    """Create a token and show its secret once."""
    values = {
        "name": request.form.get("name", ""),
        "scopes": request.form.getlist("scopes"),
        "expires": request.form.get("expires", ""),
    }
    try:
        token, raw = token_service.create_token(
            values["name"], values["scopes"], request_actor(), values["expires"]
        )
    except ValidationError as exc:
        return _answer(panels.tokens(errors=exc.fields, kept=values), status=422)
    except ServiceError as exc:
        return _refused(exc, kept=values)
    return _answer(
        panels.tokens(new_secret=raw, new_name=token.name),
        notice=gettext("Token created. Copy its secret now: it is shown only once."),
    )


@bp.post("/<name>/rotate")
@state_change_limit
def rotate(name: str) -> Response:
    """Give a token a new secret, shown once; the previous one works for the grace period chosen."""
    try:
        token, raw = token_service.rotate_token(name, request_actor(), request.form.get("grace"))
    except ValidationError as exc:
        return _answer(panels.tokens(errors={"form": next(iter(exc.fields.values()))}), status=422)
    except ServiceError as exc:
        return _refused(exc)
    return _answer(panels.tokens(new_secret=raw, new_name=token.name), notice=gettext(
        "Token rotated. Copy its new secret now: it is shown only once; the previous one works "
        "until the grace period ends."
    ))


@bp.post("/<name>/revoke")
@state_change_limit
def revoke(name: str) -> Response:
    """Revoke a token: it stops working at once."""
    try:
        token_service.revoke_token(name, request_actor())
    except ServiceError as exc:
        return _refused(exc)
    return _answer(panels.tokens(), notice=gettext("Token revoked; it no longer works."))
