"""Planned windows: schedule one, edit or cancel it before it starts (a page of its own)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, flash, redirect, url_for
from flask_babel import gettext
from pausa_gate.windows import utcnow

from ... import htmx
from ...maintenance.validation import ValidationError, validate_window
from ...models import MaintenanceWindow
from ...ratelimits import state_change_limit
from ...services import ServiceError
from ...services import scheduling as scheduling_service
from ..auth import request_actor
from . import forms
from .dashboard import change

bp = Blueprint("schedule", __name__, url_prefix="/windows")


def _render_form(
    window: MaintenanceWindow | None = None,
    errors: dict[str, str] | None = None,
    submitted: bool = False,
    status: int = 200,
) -> Response:
    """The schedule (or edit) form: a page of its own, or the form alone for htmx."""
    if window is None:
        action = url_for("admin.schedule.create")
    else:
        action = url_for("admin.schedule.update", window_id=window.id)
    return htmx.render(
        "admin/schedule.html",
        "admin/partials/schedule_form.html",
        status=status,
        editing=window,
        action=action,
        errors=errors or {},
        values=forms.schedule_values(window, submitted),
        **forms.choices(),
    )


def _window_or_404(window_id: int) -> MaintenanceWindow:
    window = scheduling_service.find_window(window_id)
    if window is None:
        abort(404)
    return window


def _schedule_change(
    apply: Callable[[], object], success: str, window: MaintenanceWindow | None = None
) -> Response:
    """Run a schedule change: back to the dashboard on success, the form with its errors otherwise."""
    try:
        apply()
    except ValidationError as exc:
        return _render_form(window, exc.fields, submitted=True, status=422)
    except ServiceError as exc:
        return _render_form(window, {"form": exc.message}, submitted=True, status=exc.status)
    flash(success)
    if htmx.is_fragment_request():
        return htmx.redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.dashboard"))


@bp.get("/new")
def new() -> Response:
    return _render_form()


@bp.post("")
@state_change_limit
def create() -> Response:
    return _schedule_change(
        lambda: scheduling_service.schedule_window(
            validate_window(forms.schedule_form_data(), utcnow()), request_actor()
        ),
        gettext("Maintenance window scheduled."),
    )


@bp.get("/<int:window_id>/edit")
def edit(window_id: int) -> Response:
    return _render_form(_window_or_404(window_id))


@bp.post("/<int:window_id>")
@state_change_limit
def update(window_id: int) -> Response:
    window = _window_or_404(window_id)
    # Only what the admin changed: a re-sent value (shown to the minute) must not move the start.
    shown = forms.schedule_values(window, submitted=False)
    changes = {
        name: value for name, value in forms.schedule_form_data().items()
        if forms.comparable(value) != forms.comparable(shown.get(name))
        and str(value).strip() != str(shown.get(name))
    }
    return _schedule_change(
        lambda: scheduling_service.update_scheduled_window(
            window_id, validate_window(changes, utcnow(), partial=True), request_actor()
        ),
        gettext("Maintenance window updated."),
        window,
    )


@bp.post("/<int:window_id>/cancel")
@state_change_limit
def cancel(window_id: int) -> Response:
    return change(
        lambda: scheduling_service.cancel_window(window_id, request_actor()),
        gettext("Maintenance window cancelled."),
    )
