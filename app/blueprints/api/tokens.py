"""The admin API's tokens (docs/tokens.md): POST makes one (its secret is in the answer, once), GET lists
them (never a secret or a hash), POST .../rotate gives one a new secret (once), DELETE revokes one."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify
from pausa_gate.windows import utcnow

from ...maintenance.validation import ValidationError
from ...ratelimits import state_change_limit
from ...services import tokens as token_service
from .common import bp, json_body


def _token_with_secret(token: Any, raw: str, status: int) -> Response:
    response = jsonify(token=token_service.token_json(token), secret=raw)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"  # the secret is in it
    return response


@bp.get("/tokens")
def tokens() -> Response:
    now = utcnow()
    return jsonify(tokens=[token_service.token_json(row, now) for row in token_service.list_tokens()])


@bp.post("/tokens")
@state_change_limit
def token_create() -> Response:
    """Body: {"name": "deploy", "scopes": ["admin"], "expires": "30d"}; the answer holds the secret, once."""
    body = json_body()
    new = token_service.check_new(body)
    token, raw = token_service.create_token(
        new.name, new.scopes, g.actor, body.get("expires"),
    )
    return _token_with_secret(token, raw, 201)


@bp.post("/tokens/<name>/rotate")
@state_change_limit
def token_rotate(name: str) -> Response:
    """Body (optional): {"grace": "1h"}; the previous secret works that long, the new one is in the answer."""
    body = json_body()
    fields = {field: "Unknown field." for field in body if field != "grace"}
    if fields:
        raise ValidationError(fields)
    token, raw = token_service.rotate_token(name, g.actor, body.get("grace"))
    return _token_with_secret(token, raw, 200)


@bp.delete("/tokens/<name>")
@state_change_limit
def token_revoke(name: str) -> Response:
    """Revoke a token at once (a token cannot revoke itself: 409)."""
    return jsonify(token=token_service.token_json(token_service.revoke_token(name, g.actor)))
