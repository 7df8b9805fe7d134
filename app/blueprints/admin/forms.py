"""The window forms of the dashboard: read what a form sent, fill a form to show."""

from __future__ import annotations

from typing import Any

from flask import request
from pausa_gate.state import ROLES, Mode, Reason

from ...maintenance.validation import MESSAGE_MAX
from ...models import MaintenanceWindow

FORM_TIME = "%Y-%m-%dT%H:%MZ"  # the form's hint shows this shape
FORM_FIELDS = ("message", "reason", "mode", "eta", "ends_at", "allowed_ips", "scope_paths")
SCHEDULE_FIELDS = (*FORM_FIELDS, "starts_at", "notice_minutes", "drain_minutes")


def choices() -> dict[str, Any]:
    """The fixed choices every window form offers."""
    return {
        "roles": [role for role in ROLES if role != "admin"],
        "reasons": [reason.value for reason in Reason],
        "modes": [mode.value for mode in Mode],
        "message_max": MESSAGE_MAX,
    }


def form_messages() -> dict[str, str]:
    """Read the message per language a dashboard form sent (fields `messages.<tag>`)."""
    return {name.removeprefix("messages."): value for name, value in request.form.items()
            if name.startswith("messages.")}


def form_data() -> dict[str, Any]:
    """Read the window fields a dashboard form sent."""
    data: dict[str, Any] = {name: request.form[name] for name in FORM_FIELDS if name in request.form}
    if "roles_present" in request.form:
        data["allowed_roles"] = request.form.getlist("allowed_roles")
    if messages := form_messages():
        data["messages"] = messages
    # An unticked checkbox sends nothing: the marker says the form showed it, so absent means off.
    if "webhooks_present" in request.form:
        data["pause_webhook_processing"] = "pause_webhook_processing" in request.form
    return data


def schedule_form_data() -> dict[str, Any]:
    """Read the fields a schedule form sent: a window's, plus when it starts and its notice."""
    data = form_data()
    for name in ("starts_at", "notice_minutes", "drain_minutes"):
        if name in request.form:
            data[name] = request.form[name]
    return data


def comparable(value: Any) -> Any:
    """Normalise a value so that a re-sent one compares equal to the one shown."""
    if isinstance(value, list):
        return sorted(value)
    return (value or "").replace("\r\n", "\n").strip() if isinstance(value, str) else value


def _submitted_values(fields: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {name: request.form.get(name, "") for name in fields}
    values["allowed_roles"] = request.form.getlist("allowed_roles")
    values["messages"] = form_messages()
    values["pause_webhook_processing"] = "pause_webhook_processing" in request.form
    return values


def form_values(window: MaintenanceWindow | None, submitted: bool) -> dict[str, Any]:
    """Fill the form: what was just submitted, else the active window, else defaults."""
    if submitted:
        return _submitted_values(FORM_FIELDS)
    if window is None:
        values: dict[str, Any] = dict.fromkeys(FORM_FIELDS, "")
        values.update(
            reason=Reason.OTHER.value, mode=Mode.FULL.value, allowed_roles=[], messages={},
            pause_webhook_processing=False,
        )
        return values
    return {
        "message": window.message,
        "messages": dict(window.messages or {}),
        "reason": window.reason,
        "mode": window.mode,
        "eta": window.eta.strftime(FORM_TIME) if window.eta else "",
        "ends_at": window.ends_at.strftime(FORM_TIME) if window.ends_at else "",
        "allowed_ips": " ".join(window.allowed_ips or []),
        "scope_paths": " ".join(window.scope_paths or []),
        "allowed_roles": list(window.allowed_roles or []),
        "pause_webhook_processing": bool(window.pause_webhook_processing),
    }


def schedule_values(window: MaintenanceWindow | None, submitted: bool) -> dict[str, Any]:
    """Fill the schedule form: what was just submitted, else the window being edited, else defaults."""
    if submitted:
        return _submitted_values(SCHEDULE_FIELDS)
    values = form_values(window, submitted=False)
    if window is None:
        values.update(starts_at="", notice_minutes=60, drain_minutes=0)
    else:
        values.update(
            starts_at=window.starts_at.strftime(FORM_TIME),
            notice_minutes=window.notice_minutes,
            drain_minutes=window.drain_minutes,
        )
    return values
