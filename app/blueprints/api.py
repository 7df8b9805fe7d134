"""The JSON admin API for deploy pipelines: status, activate, update, end, schedule, cancel."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask_login import current_user
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from ..extensions import csrf, db
from ..gate.inapp import bearer_token
from ..inputs import MAX_DATABASE_ID, read_body
from ..maintenance.validation import BodyError, ValidationError, parse_json, validate_window
from ..models import MaintenanceWindow
from ..ratelimits import TokenAttemptsExceeded, bypass_link_limit, state_change_limit
from ..services import ServiceError
from ..services import maintenance as maintenance_service
from ..services import scheduling as scheduling_service
from ..services import tokens as token_service
from ..services import users as user_service
from .auth import request_actor

bp = Blueprint("api", __name__, url_prefix="/api/admin")
# Bearer-token callers have no session to forge; session callers are checked below.
csrf.exempt(bp)


def error(status: int, code: str, message: str, **extra: Any) -> Response:
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
            response = error(401, "unauthorized", "The token is unknown or revoked.")
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


def window_json(window: MaintenanceWindow | None) -> dict[str, Any] | None:
    """Describe a window for admins, everything included."""
    if window is None:
        return None
    values = window.snapshot()
    for name in ("starts_at", "created_at", "started_at", "ended_at"):
        moment = getattr(window, name)
        values[name] = moment.isoformat() if moment else None
    values.update(
        id=window.id,
        status=window.status,
        created_by=window.created_by,
        started_by=window.started_by,
        ended_by=window.ended_by,
        ended_how=window.ended_how,
    )
    return values


def _status_body() -> dict[str, Any]:
    window = maintenance_service.current_window()
    return {
        "active": window is not None,
        "window": window_json(window),
        "version": maintenance_service.read_version(),
    }


def _json_body() -> dict[str, Any]:
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


def _changed(window: MaintenanceWindow, status: int = 200) -> Response:
    response = jsonify(active=window.status == "active", window=window_json(window))
    response.status_code = status
    return response


@bp.get("/maintenance")
def status() -> Response:
    return jsonify(_status_body())


@bp.post("/maintenance")
@state_change_limit
def activate() -> Response:
    data = validate_window(_json_body(), utcnow())
    return _changed(maintenance_service.activate_window(data, g.actor), 201)


@bp.patch("/maintenance")
@state_change_limit
def update() -> Response:
    data = validate_window(_json_body(), utcnow(), partial=True)
    return _changed(maintenance_service.update_window(data, g.actor))


@bp.delete("/maintenance")
@state_change_limit
def end() -> Response:
    """End the active window; `?window=ID` ends it only if it is that one (409 otherwise)."""
    raw = request.args.get("window")
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 2**31):
        raise ValidationError({"window": "Give the id of the window to end, a whole number."})
    window_id = int(raw) if raw is not None else None
    return _changed(maintenance_service.end_window(g.actor, window_id=window_id))


@bp.get("/maintenance/windows")
def windows() -> Response:
    """List the most recent windows, newest first."""
    rows = db.session.scalars(
        select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc()).limit(100)
    )
    return jsonify(windows=[window_json(row) for row in rows])


@bp.post("/maintenance/windows")
@state_change_limit
def schedule() -> Response:
    """Schedule a window that starts later (`starts_at` required, in the future)."""
    data = validate_window(_json_body(), utcnow())
    return _changed(scheduling_service.schedule_window(data, g.actor), 201)


@bp.patch("/maintenance/windows/<int:window_id>")
@state_change_limit
def update_scheduled(window_id: int) -> Response:
    """Edit a scheduled window before it starts (only the fields given)."""
    data = validate_window(_json_body(), utcnow(), partial=True)
    return _changed(scheduling_service.update_scheduled_window(window_id, data, g.actor))


@bp.delete("/maintenance/windows/<int:window_id>")
@state_change_limit
def cancel(window_id: int) -> Response:
    """Cancel a scheduled window (409 once it has started)."""
    return _changed(scheduling_service.cancel_window(window_id, g.actor))


@bp.errorhandler(ValidationError)
def validation_failed(exc: ValidationError) -> Response:
    return error(400, "validation", "Some fields are not valid.", fields=exc.fields)


@bp.errorhandler(ServiceError)
def service_refused(exc: ServiceError) -> Response:
    codes = {404: "not_found", 409: "conflict"}
    return error(exc.status, codes.get(exc.status, "invalid"), exc.message)


# Bypass links: POST makes one (its URL is in the answer, once), GET lists the live ones, DELETE revokes.


@bp.get("/maintenance/bypass-links")
def bypass_links() -> Response:
    from ..services import bypass as bypass_service

    return jsonify(links=[bypass_service.link_json(link) for link in bypass_service.live_links()])


@bp.post("/maintenance/bypass-links")
@bypass_link_limit
def bypass_link_create() -> Response:
    """Body (optional): {"expires": "2h", "window_id": 7}; default: 12 h, the active or next window."""
    from ..services import bypass as bypass_service

    body = _json_body()
    fields: dict[str, str] = {
        name: "Unknown field." for name in body if name not in ("expires", "window_id")
    }
    expires, window_id = body.get("expires"), body.get("window_id")
    if expires is not None:
        try:
            bypass_service.parse_expiry(expires if isinstance(expires, str) else "")
        except ServiceError as exc:
            fields["expires"] = exc.message
    if window_id is not None and (
        not isinstance(window_id, int) or isinstance(window_id, bool)
        or not 1 <= window_id <= MAX_DATABASE_ID
    ):
        fields["window_id"] = "A window id is a number."
    if fields:
        raise ValidationError(fields)
    link, raw = bypass_service.create_link(g.actor, expires, window_id)
    response = jsonify(url=bypass_service.link_url(raw), **bypass_service.link_json(link))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/maintenance/bypass-links/<int:link_id>")
def bypass_link_revoke(link_id: int) -> Response:
    from ..services import bypass as bypass_service

    return jsonify(bypass_service.link_json(bypass_service.revoke_link(link_id, g.actor)))
