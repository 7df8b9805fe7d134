"""Recurring windows (docs/recurrences.md): define, pause, resume, delete.

Skipping or moving one occurrence is done on its window, in the planned-windows section.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request
from flask_babel import gettext

from ...maintenance.validation import ValidationError
from ...ratelimits import state_change_limit
from ...services import ServiceError
from ...services import recurrences as recurrence_service
from ..auth import request_actor
from . import panels
from .dashboard import after_change, render_panel

bp = Blueprint("recurrences", __name__, url_prefix="/recurrences")

FIELDS = (
    "frequency", "weekday", "week", "start", "end", "time_zone", "message", "reason", "mode",
    "notice_minutes", "drain_minutes",
)


def _answer(apply: Callable[[], object], success: str) -> Response:
    """Run one recurrence change; answer with the panel, the form's errors beside their fields."""
    try:
        apply()
    except ValidationError as exc:
        kept = {name: request.form.get(name, "") for name in FIELDS}
        return render_panel(status=422, recurrences=panels.recurrences(errors=exc.fields, kept=kept))
    except ServiceError as exc:
        card = panels.recurrences(errors={"form": exc.message})
        return render_panel(status=422 if exc.status == 400 else 409, recurrences=card)
    return after_change(success)


@bp.post("")
@state_change_limit
def create() -> Response:
    data = {name: request.form[name] for name in FIELDS if request.form.get(name, "") != ""}
    return _answer(
        lambda: recurrence_service.create_recurrence(data, request_actor()),
        gettext("Recurrence created; its next occurrences are planned."),
    )


@bp.post("/<int:recurrence_id>/pause")
@state_change_limit
def pause(recurrence_id: int) -> Response:
    return _answer(
        lambda: recurrence_service.pause_recurrence(recurrence_id, request_actor()),
        gettext("Recurrence paused; its upcoming occurrences are cancelled."),
    )


@bp.post("/<int:recurrence_id>/resume")
@state_change_limit
def resume(recurrence_id: int) -> Response:
    return _answer(
        lambda: recurrence_service.resume_recurrence(recurrence_id, request_actor()),
        gettext("Recurrence resumed; its next occurrences are planned."),
    )


@bp.post("/<int:recurrence_id>/delete")
@state_change_limit
def delete(recurrence_id: int) -> Response:
    return _answer(
        lambda: recurrence_service.delete_recurrence(recurrence_id, request_actor()),
        gettext("Recurrence deleted; its upcoming occurrences are cancelled."),
    )
