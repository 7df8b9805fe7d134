"""The window in effect: activate, update, end, extend, resume held webhooks, preview, notify now."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext
from pausa_gate.state import Mode, Reason, Status, WindowState
from pausa_gate.windows import public_facts, utcnow

from ... import htmx
from ...maintenance.validation import DEFAULT_MESSAGE, ValidationError, validate_window
from ...ratelimits import state_change_limit
from ...services import maintenance as maintenance_service
from ...services import notifications as notification_service
from ...services import state as state_service
from ..auth import request_actor
from . import forms
from .dashboard import change
from .panels import EXTEND_MINUTES

bp = Blueprint("windows", __name__)


@bp.post("/maintenance/activate")
@state_change_limit
def activate() -> Response:
    return change(
        lambda: maintenance_service.activate_window(
            validate_window(forms.form_data(), utcnow()), request_actor()
        ),
        gettext("Maintenance is on."),
    )


@bp.post("/maintenance/update")
@state_change_limit
def update() -> Response:
    # Send only what the admin changed: an untouched, already-passed ETA must not fail
    # validation, and a re-submitted value must not show up as a change in the audit.
    shown = forms.form_values(state_service.current_window(), submitted=False)
    changes = {
        name: value for name, value in forms.form_data().items()
        if forms.comparable(value) != forms.comparable(shown.get(name))
    }
    return change(
        lambda: maintenance_service.update_window(
            validate_window(changes, utcnow(), partial=True), request_actor()
        ),
        gettext("Maintenance updated."),
    )


@bp.post("/maintenance/resume-webhooks")
@state_change_limit
def resume_webhooks() -> Response:
    """Process the held webhooks now: an update of the active window with the hold off."""
    return change(
        lambda: maintenance_service.update_window(
            validate_window({"pause_webhook_processing": False}, utcnow(), partial=True), request_actor()
        ),
        gettext("Webhooks are processed again; the held ones go first, oldest first."),
    )


@bp.post("/maintenance/end")
@state_change_limit
def end() -> Response:
    return change(lambda: maintenance_service.end_window(request_actor()), gettext("Maintenance has ended."))


@bp.post("/maintenance/extend")
@state_change_limit
def extend() -> Response:
    """The dead-man's switch: one click pushes the automatic end later."""
    return change(
        lambda: maintenance_service.extend_window(EXTEND_MINUTES, request_actor()),
        gettext("The automatic end is now %(minutes)s minutes later.", minutes=EXTEND_MINUTES),
    )


@bp.post("/windows/<int:window_id>/notify-now")
@state_change_limit
def notify_now(window_id: int) -> Response:
    """Send a window's queued "we're back" emails at the worker's next pass, without the delay."""
    return change(
        lambda: notification_service.notify_now(window_id, request_actor()),
        gettext("Subscribers will be notified within a few seconds."),
    )


@bp.post("/preview")
def preview() -> Response:
    """Render the maintenance page's text from the form being edited, as users will see it."""
    now = utcnow()
    values: dict[str, Any] = {}
    for name in ("message", "reason", "eta"):
        # Preview whatever is valid so far; the form itself reports the errors on submit.
        try:
            values.update(validate_window({name: request.form.get(name, "")}, now, partial=True).values)
        except ValidationError:
            continue
    if values.get("eta") is None and request.form.get("eta"):
        current = state_service.current_window(now)
        values["eta"] = current.eta if current is not None else None
    window = WindowState(
        id=0,
        status=Status.ACTIVE,
        mode=Mode.FULL,
        reason=values.get("reason") or Reason.OTHER,
        message=values.get("message") or DEFAULT_MESSAGE,
        starts_at=now,
        eta=values.get("eta"),
    )
    html = render_template(
        "admin/partials/preview_body.html", window=window, facts=public_facts(window, now)
    )
    return htmx.vary(Response(html))
