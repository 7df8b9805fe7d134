"""The admin API's windows: the one in effect (/maintenance) and the planned ones (/maintenance/windows)."""

from __future__ import annotations

from typing import Any

from flask import Response, g, jsonify, request
from pausa_gate.windows import utcnow
from sqlalchemy import select

from ...extensions import db
from ...maintenance.validation import ValidationError, validate_window
from ...models import MaintenanceWindow
from ...ratelimits import state_change_limit
from ...services import maintenance as maintenance_service
from ...services import scheduling as scheduling_service
from ...services import state as state_service
from .common import bp, json_body


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
        recurrence_id=window.recurrence_id,
        occurrence_at=window.occurrence_at.isoformat() if window.occurrence_at else None,
    )
    return values


def _status_body() -> dict[str, Any]:
    window = state_service.current_window()
    return {
        "active": window is not None,
        "window": window_json(window),
        "version": state_service.read_version(),
    }


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
    data = validate_window(json_body(), utcnow())
    return _changed(maintenance_service.activate_window(data, g.actor), 201)


@bp.patch("/maintenance")
@state_change_limit
def update() -> Response:
    data = validate_window(json_body(), utcnow(), partial=True)
    return _changed(maintenance_service.update_window(data, g.actor))


@bp.delete("/maintenance")
@state_change_limit
def end() -> Response:
    """End every window in effect; `?window=ID` ends only that one (409 when it is not in effect)."""
    raw = request.args.get("window")
    if raw is not None and not (raw.isdigit() and 0 < int(raw) < 2**31):
        raise ValidationError({"window": "Give the id of the window to end, a whole number."})
    window_id = int(raw) if raw is not None else None
    ended = maintenance_service.end_maintenance(g.actor, window_id=window_id)
    # `active` is the truth about what is enforced: a planned window that started during the one
    # ended here stays in effect, and says so (docs/windows.md).
    return jsonify(
        active=ended.still_in_effect is not None,
        window=window_json(ended.windows[0]),
        ended=[window.id for window in ended.windows],
        still_in_effect=window_json(ended.still_in_effect),
    )


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
    data = validate_window(json_body(), utcnow())
    return _changed(scheduling_service.schedule_window(data, g.actor), 201)


@bp.patch("/maintenance/windows/<int:window_id>")
@state_change_limit
def update_scheduled(window_id: int) -> Response:
    """Edit a scheduled window before it starts (only the fields given)."""
    data = validate_window(json_body(), utcnow(), partial=True)
    return _changed(scheduling_service.update_scheduled_window(window_id, data, g.actor))


@bp.delete("/maintenance/windows/<int:window_id>")
@state_change_limit
def cancel(window_id: int) -> Response:
    """Cancel a scheduled window (409 once it has started)."""
    return _changed(scheduling_service.cancel_window(window_id, g.actor))
