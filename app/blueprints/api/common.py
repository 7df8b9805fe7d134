"""What every admin API route shares: the blueprint, who may call it, JSON bodies and errors."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask_login import current_user
from pausa_gate.state import Actor

from ...extensions import csrf
from ...gate.inapp import bearer_token
from ...inputs import read_body
from ...maintenance.validation import BodyError, ValidationError, parse_json
from ...ratelimits import TokenAttemptsExceeded
from ...security import request_actor
from ...services import ServiceError
from ...services import tokens as token_service
from ...services import users as user_service

bp = Blueprint("api", __name__, url_prefix="/api/admin")
# Bearer-token callers have no session to forge; session callers are checked below.
csrf.exempt(bp)


def error(status: int, code: str, message: str, **extra: Any) -> Response:
    """Answer an error as JSON: {"error": code, "message": ...}."""
    response = jsonify(error=code, message=message, **extra)
    response.status_code = status
    return response


@bp.before_request
def authenticate() -> Response | None:
    """Accept an admin-scoped bearer token, or an admin session with a CSRF token."""
    raw = bearer_token()
    if raw is not None:
        try:
            token = token_service.authenticate(raw)
        except TokenAttemptsExceeded as limited:
            response = error(429, "rate_limited", limited.description, retry_after=limited.retry_after)
            response.headers["Retry-After"] = str(limited.retry_after)
            return response
        if token is None:
            response = error(401, "unauthorized", "The token is unknown, expired or revoked.")
            response.headers["WWW-Authenticate"] = 'Bearer realm="pausa", error="invalid_token"'
            return response
        g.actor = Actor(f"token:{token.name}", request.remote_addr, request.user_agent.string)
        token_service.note_use(token, g.actor, request.path)
        if "admin" not in token.scope_set:
            token_service.note_denied(token, g.actor, request.path, request.method)
            return error(403, "forbidden", "This token has no admin scope.")
        return None
    if not current_user.is_authenticated:
        response = error(401, "unauthorized", "Sign in or send Authorization: Bearer <token>.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="pausa"'
        return response
    g.actor = request_actor()
    if not current_user.is_admin:
        user_service.note_denied(current_user, g.actor, request.path, request.method)
        return error(403, "forbidden", "Only admins can do this.")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()
    return None


def json_body() -> dict[str, Any]:
    """Read the request's JSON object; an empty body is an empty object."""
    raw = read_body()
    if not raw:
        return {}
    expected = "Send a JSON object with Content-Type: application/json."
    if not request.is_json:
        raise ValidationError({"body": expected})
    try:
        payload = parse_json(raw)
    except BodyError as error:
        raise ValidationError({"body": f"{str(error).capitalize()}. {expected}"}) from None
    if not isinstance(payload, dict):
        raise ValidationError({"body": expected})
    return payload


@bp.errorhandler(ValidationError)
def validation_failed(exc: ValidationError) -> Response:
    return error(400, "validation", "Some fields are not valid.", fields=exc.fields)


@bp.errorhandler(ServiceError)
def service_refused(exc: ServiceError) -> Response:
    codes = {404: "not_found", 409: "conflict"}
    return error(exc.status, codes.get(exc.status, "invalid"), exc.message)
