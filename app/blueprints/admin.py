"""The admin dashboard: live status, activate, update and end maintenance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, request, url_for
from sqlalchemy import select

from .. import htmx
from ..extensions import db
from ..gate import state_cache
from ..maintenance.state import ROLES, Mode, Reason
from ..maintenance.validation import MESSAGE_MAX, ValidationError, validate_window
from ..maintenance.windows import public_facts, utcnow
from ..models import AuditEntry, MaintenanceWindow
from ..ratelimits import state_change_limit
from ..services import ServiceError
from ..services import maintenance as maintenance_service
from .auth import admin_required, request_actor

bp = Blueprint("admin", __name__, url_prefix="/admin")

FORM_TIME = "%Y-%m-%dT%H:%MZ"  # the form's hint shows this shape
FORM_FIELDS = ("message", "reason", "mode", "eta", "ends_at", "allowed_ips", "scope_paths")


@bp.before_request
@admin_required
def guard() -> None:
    """Every admin page needs an admin."""


def _form_data() -> dict[str, Any]:
    """Read the window fields a dashboard form sent."""
    data: dict[str, Any] = {name: request.form[name] for name in FORM_FIELDS if name in request.form}
    if "roles_present" in request.form:
        data["allowed_roles"] = request.form.getlist("allowed_roles")
    return data


def _comparable(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value)
    return (value or "").replace("\r\n", "\n").strip() if isinstance(value, str) else value


def _form_values(window: MaintenanceWindow | None, submitted: bool) -> dict[str, Any]:
    """Fill the form: what was just submitted, else the active window, else defaults."""
    if submitted:
        values = {name: request.form.get(name, "") for name in FORM_FIELDS}
        values["allowed_roles"] = request.form.getlist("allowed_roles")
        return values
    if window is None:
        values = dict.fromkeys(FORM_FIELDS, "")
        values.update(reason=Reason.OTHER.value, mode=Mode.FULL.value, allowed_roles=[])
        return values
    return {
        "message": window.message,
        "reason": window.reason,
        "mode": window.mode,
        "eta": window.eta.strftime(FORM_TIME) if window.eta else "",
        "ends_at": window.ends_at.strftime(FORM_TIME) if window.ends_at else "",
        "allowed_ips": " ".join(window.allowed_ips or []),
        "scope_paths": " ".join(window.scope_paths or []),
        "allowed_roles": list(window.allowed_roles or []),
    }


def _panel_context(
    errors: dict[str, str] | None = None, submitted: bool = False, notice: str | None = None
) -> dict:
    now = utcnow()
    window = maintenance_service.current_window(now)
    version = maintenance_service.read_version()
    return {
        "window": window,
        "facts": public_facts(window.to_state(), now) if window else None,
        "version": version,
        "stale": state_cache().get().stale,
        "errors": errors or {},
        "notice": notice,
        "values": _form_values(window, submitted),
        "roles": [role for role in ROLES if role != "admin"],
        "reasons": [reason.value for reason in Reason],
        "modes": [mode.value for mode in Mode],
        "message_max": MESSAGE_MAX,
    }


def _render_panel(status: int = 200, **context: Any) -> Response:
    return htmx.render(
        "admin/dashboard.html", "admin/partials/panel.html", status=status,
        **_dashboard_context(), **_panel_context(**context),
    )


def _dashboard_context() -> dict:
    return {
        "recent_audit": db.session.scalars(
            select(AuditEntry).order_by(AuditEntry.id.desc()).limit(8)
        ).all(),
        "recent_windows": db.session.scalars(
            select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc()).limit(5)
        ).all(),
    }


def _after_change(message: str) -> Response:
    """Answer a successful change: the fresh panel for htmx, a redirect otherwise."""
    if htmx.is_fragment_request():
        return _render_panel(notice=message)
    flash(message)
    return redirect(url_for("admin.dashboard"))


def _refused(errors: dict[str, str], status: int) -> Response:
    """Answer bad input: the form again with the errors next to their fields."""
    return _render_panel(status=status, errors=errors, submitted=True)


@bp.get("")
def dashboard() -> Response:
    return _render_panel()


@bp.get("/status-card")
def status_card() -> Response:
    """Answer the card's poll; tell the page to reload its controls when the state moved."""
    context = _panel_context()
    if htmx.is_fragment_request():
        card = "admin/partials/status_card.html"
        response = htmx.render(card, card, **context)
    else:
        response = _render_panel()
    seen = request.args.get("version", type=int)
    if seen is not None and seen != context["version"]:
        response.headers["HX-Trigger"] = "pausa:state-changed"
    return response


@bp.get("/panel")
def panel() -> Response:
    return _render_panel()


def _change(apply: Callable[[], object], success: str) -> Response:
    """Run one state change and answer it: the fresh panel, or the form with its errors."""
    try:
        apply()
    except ValidationError as exc:
        return _refused(exc.fields, 422)
    except ServiceError as exc:
        return _refused({"form": exc.message}, exc.status)
    return _after_change(success)


@bp.post("/maintenance/activate")
@state_change_limit
def activate() -> Response:
    return _change(
        lambda: maintenance_service.activate_window(
            validate_window(_form_data(), utcnow()), request_actor()
        ),
        "Maintenance is on.",
    )


@bp.post("/maintenance/update")
@state_change_limit
def update() -> Response:
    # Send only what the admin changed: an untouched, already-passed ETA must not fail
    # validation, and a re-submitted value must not show up as a change in the audit.
    shown = _form_values(maintenance_service.current_window(), submitted=False)
    changes = {
        name: value for name, value in _form_data().items()
        if _comparable(value) != _comparable(shown.get(name))
    }
    return _change(
        lambda: maintenance_service.update_window(
            validate_window(changes, utcnow(), partial=True), request_actor()
        ),
        "Maintenance updated.",
    )


@bp.post("/maintenance/end")
@state_change_limit
def end() -> Response:
    return _change(lambda: maintenance_service.end_window(request_actor()), "Maintenance has ended.")


@bp.app_template_global("health_report")
def health_report() -> Any:
    """Run the readiness checks for the dashboard's health panel (the same ones as /health/ready)."""
    from ..services import health as health_service

    return health_service.readiness(state_cache())


@bp.get("/health-panel")
def health_panel() -> Response:
    """Answer the health panel's poll (every 15 s) with the fresh panel."""
    if not htmx.is_fragment_request():
        return _render_panel()
    partial = "admin/partials/health.html"
    return htmx.render(partial, partial, health=health_report())
