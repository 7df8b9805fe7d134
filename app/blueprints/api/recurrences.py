"""The admin API's recurring windows (docs/recurrences.md): the spec is the rule plus the window fields."""

from __future__ import annotations

from flask import Response, g, jsonify

from ...maintenance.validation import ValidationError
from ...ratelimits import state_change_limit
from ...services import recurrences as recurrence_service
from .common import bp, json_body


@bp.get("/recurrences")
def recurrences() -> Response:
    rows = recurrence_service.list_recurrences()
    return jsonify(recurrences=[recurrence_service.recurrence_json(row) for row in rows])


@bp.post("/recurrences")
@state_change_limit
def recurrence_create() -> Response:
    """Define a recurrence; its next occurrences are planned at once (in the answer)."""
    recurrence = recurrence_service.create_recurrence(json_body(), g.actor)
    response = jsonify(recurrence_service.recurrence_json(recurrence))
    response.status_code = 201
    return response


@bp.get("/recurrences/<int:recurrence_id>")
def recurrence_show(recurrence_id: int) -> Response:
    return jsonify(recurrence_service.recurrence_json(recurrence_service.get_recurrence(recurrence_id)))


@bp.patch("/recurrences/<int:recurrence_id>")
@state_change_limit
def recurrence_update(recurrence_id: int) -> Response:
    """Change spec fields; {"status": "paused"} pauses it, {"status": "active"} resumes it."""
    body = json_body()
    status = body.pop("status", None)
    if status not in (None, "active", "paused"):
        raise ValidationError({"status": "Must be active or paused."})
    recurrence = recurrence_service.get_recurrence(recurrence_id)
    if body:
        recurrence = recurrence_service.update_recurrence(recurrence_id, body, g.actor)
    if status == "paused":
        recurrence = recurrence_service.pause_recurrence(recurrence_id, g.actor)
    elif status == "active":
        recurrence = recurrence_service.resume_recurrence(recurrence_id, g.actor)
    return jsonify(recurrence_service.recurrence_json(recurrence))


@bp.delete("/recurrences/<int:recurrence_id>")
@state_change_limit
def recurrence_delete(recurrence_id: int) -> Response:
    """Delete a recurrence; its future untouched occurrences are cancelled."""
    recurrence = recurrence_service.delete_recurrence(recurrence_id, g.actor)
    return jsonify(id=recurrence.id, status=recurrence.status)
