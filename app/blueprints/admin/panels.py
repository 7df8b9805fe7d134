"""What each card of the dashboard shows: one function per panel, and the dashboard's whole context.

The views pass these to the templates (no template fetches its own data). A view that has just
made something shown once (a link, a secret) or refused a form passes that panel ready-made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.windows import public_facts, utcnow

from ...gate.inapp import state_cache
from ...i18n import default_language
from ...models import MaintenanceWindow
from ...services import alerts as alerts_service
from ...services import audit as audit_service
from ...services import bypass as bypass_service
from ...services import health as health_service
from ...services import notifications as notification_service
from ...services import recurrences as recurrence_service
from ...services import scheduling as scheduling_service
from ...services import state as state_service
from ...services import subscriptions as subscription_service
from ...services import tokens as token_service
from ...services import webhook_rejections
from ...services import webhook_subscribers as subscriber_service
from ...services import webhooks as webhook_service
from . import forms

EXTEND_MINUTES = 30


def state(now: datetime) -> dict[str, Any]:
    """The status card: the window in effect (or the next one), the state version, what waits."""
    in_effect = state_service.windows_in_effect(now)
    window = in_effect[0] if in_effect else None
    upcoming = None if window else _next_window(now)
    return {
        "window": window,
        "also_in_effect": in_effect[1:],  # a planned window that started during this one
        "facts": public_facts(window.to_state(), now) if window else None,
        "upcoming": upcoming,
        "upcoming_seconds": int((upcoming.starts_at - now).total_seconds()) if upcoming else None,
        "upcoming_drain_at": (
            upcoming.starts_at - timedelta(minutes=upcoming.drain_minutes)
            if upcoming and upcoming.drain_minutes else None
        ),
        "emails_waiting": _emails_waiting_for_worker(now),
        "webhooks_waiting": _webhooks_held(window),
        "version": state_service.read_version(),
        "stale": state_cache().get().stale,
    }


def _next_window(now: datetime) -> MaintenanceWindow | None:
    """The soonest planned window that has not started yet, for the status card."""
    upcoming = scheduling_service.upcoming_windows(now, limit=1)
    return upcoming[0] if upcoming else None


def _emails_waiting_for_worker(now: datetime) -> int:
    """Count the queued "we're back" emails when no worker is alive to send them (0 when one is)."""
    queued = notification_service.queue_depth()
    if not queued:
        return 0
    worker = health_service.check_worker(current_app.config["WORKER_STALE_SECONDS"], now)
    return 0 if worker["ok"] else queued


def _webhooks_held(window: MaintenanceWindow | None) -> int | None:
    """Count the inbound webhooks waiting while the window holds them (None when it does not)."""
    if window is None or not window.pause_webhook_processing:
        return None
    return webhook_service.pending_count()


def recent() -> dict[str, Any]:
    """The latest audit entries and windows."""
    return {"recent_audit": audit_service.latest(8), "recent_windows": scheduling_service.latest_windows(5)}


def health() -> Any:
    """The readiness checks for the health card (the same ones as /health/ready)."""
    return health_service.readiness(state_cache())


def bypass(new_url: str | None = None, error: str | None = None) -> dict[str, Any]:
    """The bypass card: the window, the live links, a link just made (shown once)."""
    now = utcnow()
    return {
        "window": bypass_service.target_window(now),
        "links": bypass_service.live_links(now),
        "new_url": new_url,
        "error": error,
        "choices": bypass_service.EXPIRY_CHOICES,
        "default": bypass_service.DEFAULT_EXPIRY,
    }


def planned() -> dict[str, Any]:
    """The planned-windows card: upcoming windows and past ones."""
    return {
        "upcoming": scheduling_service.upcoming_windows(),
        "past": scheduling_service.past_windows(),
        "extend_minutes": EXTEND_MINUTES,
    }


def subscribers() -> dict[str, Any]:
    """The subscribers card (read from Subscriber and Delivery)."""
    return subscription_service.dashboard_counts()


def alerts() -> dict[str, Any]:
    """The alerts card: the latest alerts with their delivery status."""
    return {
        "rows": [
            {"alert": alert, "status": alerts_service.status(alert)}
            for alert in alerts_service.latest_alerts()
        ],
        "channels": alerts_service.channels(),
    }


def deliveries() -> dict[str, Any]:
    """The deliveries card: counts by status and the mail circuit."""
    return notification_service.progress()


def notices() -> dict[str, Any]:
    """The notices card (docs/notices.md): counts, sends and previews of the next window's emails."""
    window, previews = notification_service.notice_previews(default_language())
    return {
        "subscribers": subscription_service.standing_counts(),
        "sent": notification_service.notice_counts(),
        "window": window,
        "previews": previews,
    }


def webhooks() -> dict[str, Any]:
    """The webhook inbox card: counts by status, the latest events, recent refusals."""
    return {
        "counts": webhook_service.counts_by_status(),
        "events": webhook_service.latest_events(),
        "paused": webhook_service.processing_paused(),
        "rejected": webhook_rejections.recent(webhook_rejections.tracker()),
    }


def webhook_subscribers(
    new_secret: str | None = None, new_id: int | None = None,
    errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The webhook subscribers card; a secret only right after it was made."""
    return {
        "subscribers": subscriber_service.list_subscribers(),
        "new_secret": new_secret,
        "new_id": new_id,
        "errors": errors or {},
        "values": values or {},
    }


def recurrences(errors: dict[str, str] | None = None, kept: dict[str, str] | None = None) -> dict[str, Any]:
    """The recurrences card: each recurrence and its next occurrences, the form's errors."""
    now = utcnow()
    rows = []
    for recurrence in recurrence_service.list_recurrences():
        rule = recurrence_service.rule_of(recurrence)
        windows = recurrence_service.upcoming_occurrences(recurrence, now)
        rows.append({
            "recurrence": recurrence,
            "rule": rule,
            "message": recurrence.window.get("message", ""),
            "occurrences": [(window, recurrence_service.is_moved(window, rule)) for window in windows],
        })
    return {"rows": rows, "errors": errors or {}, "kept": kept or {}}


def tokens(
    new_secret: str | None = None, new_name: str | None = None,
    errors: dict[str, str] | None = None, kept: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The API tokens card; a secret only right after it was made."""
    now = utcnow()
    return {
        "rows": [(token, token_service.state_of(token, now)) for token in token_service.list_tokens()],
        "scopes": token_service.SCOPES,
        "expiry_choices": token_service.EXPIRY_CHOICES,
        "grace_choices": token_service.GRACE_CHOICES,
        "default_grace": token_service.DEFAULT_GRACE,
        "new_secret": new_secret,
        "new_name": new_name,
        "errors": errors or {},
        "kept": kept or {},
    }


# The cards below the first screen, by the name the templates read them under.
PANELS: dict[str, Callable[[], Any]] = {
    "health": health,
    "bypass": bypass,
    "planned": planned,
    "subscribers": subscribers,
    "alerts": alerts,
    "deliveries": deliveries,
    "notices": notices,
    "webhooks": webhooks,
    "webhook_subscribers": webhook_subscribers,
    "recurrences": recurrences,
    "tokens": tokens,
}


def dashboard_context(
    errors: dict[str, str] | None = None, submitted: bool = False, notice: str | None = None,
    **given: Any,
) -> dict[str, Any]:
    """Everything the dashboard shows; a panel in `given` (e.g. one holding a new secret) is used as is."""
    if unknown := given.keys() - PANELS.keys():
        raise TypeError(f"no dashboard panel named {', '.join(sorted(unknown))}")
    context = state(utcnow())
    context.update(**recent(), **forms.choices())
    context.update(errors=errors or {}, notice=notice, values=forms.form_values(context["window"], submitted))
    for name, build in PANELS.items():
        context[name] = given[name] if name in given else build()
    return context
