"""The admin dashboard: live status, activate, update and end maintenance."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from pausa_gate.state import ROLES, Mode, Reason, Status, WindowState
from pausa_gate.windows import public_facts, utcnow
from sqlalchemy import select

from .. import htmx
from ..extensions import db
from ..gate.inapp import state_cache
from ..inputs import database_id
from ..maintenance.validation import DEFAULT_MESSAGE, MESSAGE_MAX, ValidationError, validate_window
from ..models import AuditEntry, MaintenanceWindow
from ..ratelimits import bypass_link_limit, state_change_limit
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
        gettext("Maintenance is on."),
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
        gettext("Maintenance updated."),
    )


@bp.post("/maintenance/end")
@state_change_limit
def end() -> Response:
    return _change(lambda: maintenance_service.end_window(request_actor()), gettext("Maintenance has ended."))


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


# Bypass links: generate, show once, list, revoke.


@bp.app_template_global("bypass_panel")
def bypass_panel() -> dict[str, Any]:
    """What the dashboard's bypass section shows: the window, the live links, a link just made."""
    from flask import g

    from ..services import bypass as bypass_service

    now = utcnow()
    return {
        "window": bypass_service.target_window(now),
        "links": bypass_service.live_links(now),
        "new_url": g.get("bypass_new_url"),
        "error": g.get("bypass_error"),
        "choices": bypass_service.EXPIRY_CHOICES,
        "default": bypass_service.DEFAULT_EXPIRY,
    }


def _bypass_answer(notice: str | None = None, error: ServiceError | None = None) -> Response:
    """Answer a bypass-link change with the whole panel (fresh state version, no reload loop)."""
    from flask import g

    status = 200
    if error is not None:
        g.bypass_error = error.message
        status = 422 if error.status == 400 else 409  # the statuses htmx swaps (see _head.html)
    response = _render_panel(status=status, notice=notice)
    response.headers["Cache-Control"] = "no-store"  # it may hold a link's secret
    return response


@bp.post("/bypass-links")
@bypass_link_limit
def bypass_create() -> Response:
    """Make a link and show it once; it is never displayed again."""
    from flask import g

    from ..services import bypass as bypass_service

    try:
        _, raw = bypass_service.create_link(
            request_actor(), request.form.get("expires"), request.form.get("window_id", type=database_id)
        )
    except ServiceError as exc:
        return _bypass_answer(error=exc)
    g.bypass_new_url = bypass_service.link_url(raw)
    return _bypass_answer(notice=gettext("Bypass link created. Copy it now: it is shown only once."))


@bp.post("/bypass-links/<int:link_id>/revoke")
def bypass_revoke(link_id: int) -> Response:
    """Revoke a link; every browser holding its cookie is blocked again at once."""
    from ..services import bypass as bypass_service

    try:
        bypass_service.revoke_link(link_id, request_actor())
    except ServiceError as exc:
        return _bypass_answer(error=exc)
    return _bypass_answer(notice=gettext("Bypass link revoked."))


# Planned windows: schedule, edit and cancel before the start; extend the active one.

SCHEDULE_FIELDS = (*FORM_FIELDS, "starts_at", "notice_minutes", "drain_minutes")
EXTEND_MINUTES = 30


@bp.app_template_global("schedule_panel")
def schedule_panel() -> dict[str, Any]:
    """What the dashboard's planned-windows section lists: upcoming windows and past ones."""
    from ..services import scheduling as scheduling_service

    return {
        "upcoming": scheduling_service.upcoming_windows(),
        "past": scheduling_service.past_windows(),
        "extend_minutes": EXTEND_MINUTES,
    }


def _schedule_values(window: MaintenanceWindow | None, submitted: bool) -> dict[str, Any]:
    """Fill the schedule form: what was just submitted, else the window being edited, else defaults."""
    if submitted:
        values = {name: request.form.get(name, "") for name in SCHEDULE_FIELDS}
        values["allowed_roles"] = request.form.getlist("allowed_roles")
        return values
    values = _form_values(window, submitted=False)
    if window is None:
        values.update(starts_at="", notice_minutes=60, drain_minutes=0)
    else:
        values.update(
            starts_at=window.starts_at.strftime(FORM_TIME),
            notice_minutes=window.notice_minutes,
            drain_minutes=window.drain_minutes,
        )
    return values


def _schedule_form_data() -> dict[str, Any]:
    data = _form_data()
    for name in ("starts_at", "notice_minutes", "drain_minutes"):
        if name in request.form:
            data[name] = request.form[name]
    return data


def _render_schedule(
    window: MaintenanceWindow | None = None,
    errors: dict[str, str] | None = None,
    submitted: bool = False,
    status: int = 200,
) -> Response:
    """The schedule (or edit) form: a page of its own, or the form alone for htmx."""
    action = url_for("admin.schedule_update", window_id=window.id) if window else url_for("admin.schedule")
    return htmx.render(
        "admin/schedule.html",
        "admin/partials/schedule_form.html",
        status=status,
        editing=window,
        action=action,
        errors=errors or {},
        values=_schedule_values(window, submitted),
        roles=[role for role in ROLES if role != "admin"],
        reasons=[reason.value for reason in Reason],
        modes=[mode.value for mode in Mode],
        message_max=MESSAGE_MAX,
    )


def _scheduled_or_404(window_id: int) -> MaintenanceWindow:
    from flask import abort

    window = db.session.get(MaintenanceWindow, window_id)
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
        return _render_schedule(window, exc.fields, submitted=True, status=422)
    except ServiceError as exc:
        return _render_schedule(window, {"form": exc.message}, submitted=True, status=exc.status)
    flash(success)
    if htmx.is_fragment_request():
        return htmx.redirect(url_for("admin.dashboard"))
    return redirect(url_for("admin.dashboard"))


@bp.get("/windows/new")
def schedule_form() -> Response:
    return _render_schedule()


@bp.post("/windows")
@state_change_limit
def schedule() -> Response:
    from ..services import scheduling as scheduling_service

    return _schedule_change(
        lambda: scheduling_service.schedule_window(
            validate_window(_schedule_form_data(), utcnow()), request_actor()
        ),
        gettext("Maintenance window scheduled."),
    )


@bp.get("/windows/<int:window_id>/edit")
def schedule_edit(window_id: int) -> Response:
    return _render_schedule(_scheduled_or_404(window_id))


@bp.post("/windows/<int:window_id>")
@state_change_limit
def schedule_update(window_id: int) -> Response:
    from ..services import scheduling as scheduling_service

    window = _scheduled_or_404(window_id)
    # Only what the admin changed: a re-sent value (shown to the minute) must not move the start.
    shown = _schedule_values(window, submitted=False)
    changes = {
        name: value for name, value in _schedule_form_data().items()
        if _comparable(value) != _comparable(shown.get(name))
        and str(value).strip() != str(shown.get(name))
    }
    return _schedule_change(
        lambda: scheduling_service.update_scheduled_window(
            window_id, validate_window(changes, utcnow(), partial=True), request_actor()
        ),
        gettext("Maintenance window updated."),
        window,
    )


@bp.post("/windows/<int:window_id>/cancel")
@state_change_limit
def schedule_cancel(window_id: int) -> Response:
    from ..services import scheduling as scheduling_service

    return _change(
        lambda: scheduling_service.cancel_window(window_id, request_actor()),
        gettext("Maintenance window cancelled."),
    )


@bp.post("/maintenance/extend")
@state_change_limit
def extend() -> Response:
    """The dead-man's switch: one click pushes the automatic end later."""
    from ..services import scheduling as scheduling_service

    return _change(
        lambda: scheduling_service.extend_window(EXTEND_MINUTES, request_actor()),
        gettext("The automatic end is now %(minutes)s minutes later.", minutes=EXTEND_MINUTES),
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
        current = maintenance_service.current_window(now)
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


# Subscribers: how many wait for the active window; how the last end's emails went.


@bp.app_template_global("subscribers_panel")
def subscribers_panel() -> dict[str, Any]:
    """The dashboard's subscriber figures (read from Subscriber and Delivery)."""
    from ..services import subscriptions as subscription_service

    return subscription_service.dashboard_counts()


# Admin alerts: the dashboard lists the latest ones and whether they were sent.


@bp.app_template_global("alerts_panel")
def alerts_panel() -> dict[str, Any]:
    """What the dashboard's alerts section shows: the latest alerts with their delivery status."""
    from ..services import alerts as alerts_service

    return {
        "rows": [
            {"alert": alert, "status": alerts_service.status(alert)}
            for alert in alerts_service.latest_alerts()
        ],
        "channels": alerts_service.channels(),
    }


# Notifications: delivery progress of the last ended window, the circuit, "notify now".


@bp.app_template_global("delivery_progress")
def delivery_progress() -> dict[str, Any]:
    """What the dashboard's deliveries section shows: counts by status and the mail circuit."""
    from ..services import notifications as notification_service

    return notification_service.progress()


@bp.get("/deliveries")
def deliveries_panel() -> Response:
    """Answer the deliveries section's poll with the fresh section."""
    if not htmx.is_fragment_request():
        return _render_panel()
    partial = "admin/partials/deliveries.html"
    return htmx.render(partial, partial, deliveries=delivery_progress())


@bp.post("/windows/<int:window_id>/notify-now")
@state_change_limit
def notify_now(window_id: int) -> Response:
    """Send a window's queued "we're back" emails at the worker's next pass, without the delay."""
    from ..services import notifications as notification_service

    return _change(
        lambda: notification_service.notify_now(window_id, request_actor()),
        gettext("Subscribers will be notified within a few seconds."),
    )


# Webhooks: the inbox by status, the latest events, replay of dead letters.


@bp.app_template_global("webhooks_panel")
def webhooks_panel() -> dict[str, Any]:
    """What the dashboard's webhook section shows: counts by status and the latest events."""
    from ..services import webhook_rejections
    from ..services import webhooks as webhook_service
    from .webhooks import tracker

    return {
        "counts": webhook_service.counts_by_status(),
        "events": webhook_service.latest_events(),
        "paused": webhook_service.processing_paused(),
        "rejected": webhook_rejections.recent(tracker()),
    }


@bp.post("/webhooks/<int:event_pk>/replay")
@state_change_limit
def webhook_replay(event_pk: int) -> Response:
    """Put a dead-lettered webhook event back in the inbox (audited `webhook.replayed`)."""
    from ..services import Conflict
    from ..services import webhooks as webhook_service

    def apply() -> None:
        if webhook_service.replay(event_pk, request_actor()) is None:
            raise Conflict(gettext("This event is not in the dead-letter queue."))

    return _change(apply, gettext("The event is back in the inbox; the worker will process it."))
