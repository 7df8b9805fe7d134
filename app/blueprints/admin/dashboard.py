"""The dashboard page, its polls, and the answers every admin change gives (the fresh panel)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, flash, redirect, request, url_for
from pausa_gate.windows import utcnow

from ... import htmx
from ...maintenance.validation import ValidationError, example_moment
from ...services import ServiceError
from ..auth import admin_required
from . import panels

# The parent of the admin package's blueprints (admin/__init__.py nests them): its guard covers them.
bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@admin_required
def guard() -> None:
    """Every admin page needs an admin."""


@bp.app_template_global("example_moment")
def example_moment_global() -> str:
    """An example time for the forms' hints: tomorrow at 02:00 UTC, never one in the past (no query)."""
    return example_moment(utcnow())


def render_panel(status: int = 200, **context: Any) -> Response:
    """Answer with the dashboard's working area for htmx, or the whole page."""
    return htmx.render(
        "admin/dashboard.html", "admin/partials/panel.html", status=status,
        **panels.dashboard_context(**context),
    )


def no_store(response: Response) -> Response:
    """Keep a panel that may hold a secret (a link, a signing secret) out of every cache."""
    response.headers["Cache-Control"] = "no-store"
    return response


def after_change(message: str) -> Response:
    """Answer a successful change: the fresh panel for htmx, a redirect otherwise."""
    if htmx.is_fragment_request():
        return render_panel(notice=message)
    flash(message)
    return redirect(url_for("admin.dashboard"))


def change(apply: Callable[[], object], success: str) -> Response:
    """Run one state change and answer it: the fresh panel, or the form with its errors."""
    try:
        apply()
    except ValidationError as exc:
        return render_panel(status=422, errors=exc.fields, submitted=True)
    except ServiceError as exc:
        return render_panel(status=exc.status, errors={"form": exc.message}, submitted=True)
    return after_change(success)


@bp.get("")
def dashboard() -> Response:
    return render_panel()


@bp.get("/")
def dashboard_slash() -> Response:
    """Send /admin/ (a typed or bookmarked address) to the dashboard at /admin."""
    return redirect(url_for("admin.dashboard"), code=301)


@bp.get("/panel")
def panel() -> Response:
    return render_panel()


@bp.get("/status-card")
def status_card() -> Response:
    """Answer the card's poll; tell the page to reload its controls when the state moved."""
    context = panels.state(utcnow())
    if htmx.is_fragment_request():
        card = "admin/partials/status_card.html"
        response = htmx.render(card, card, **context)
    else:
        response = render_panel()
    # A planned window starts (or ends) by the clock before the worker records it and moves
    # the version: a different window in effect also means the controls below are stale.
    seen = request.args.get("version", type=int)
    seen_window = request.args.get("window", type=int)
    window_now = context["window"].id if context["window"] else 0
    moved = seen is not None and seen != context["version"]
    if moved or (seen_window is not None and seen_window != window_now):
        response.headers["HX-Trigger"] = "pausa:state-changed"
    return response


@bp.get("/health-panel")
def health_panel() -> Response:
    """Answer the health panel's poll (every 15 s) with the fresh panel."""
    if not htmx.is_fragment_request():
        return render_panel()
    partial = "admin/partials/health.html"
    return htmx.render(partial, partial, health=panels.health())


@bp.get("/deliveries")
def deliveries_panel() -> Response:
    """Answer the deliveries section's poll with the fresh section."""
    if not htmx.is_fragment_request():
        return render_panel()
    partial = "admin/partials/deliveries.html"
    return htmx.render(partial, partial, deliveries=panels.deliveries())
