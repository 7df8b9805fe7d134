"""`flask maintenance status`: whether maintenance is on, what is planned, and what the gate enforces."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from pausa_gate.windows import public_facts, utcnow, window_in_effect
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..services import offline as offline_service
from ..services import scheduling as scheduling_service
from ..services import state as state_service
from ..services import webhooks as webhook_service
from .common import describe, fail, unreachable


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@with_appcontext
def maintenance_status(as_json: bool) -> None:
    """Print whether maintenance is on (exit code 0 either way)."""
    now = utcnow()
    try:
        in_effect = state_service.windows_in_effect(now)
    except OperationalError as error:
        if not unreachable(error):
            raise
        _status_without_the_database(now, as_json, error)
        return
    window = in_effect[0] if in_effect else None
    upcoming = scheduling_service.upcoming_windows(now, limit=5)
    if as_json:
        body = {
            "active": window is not None,
            "window": _status_facts(window, now) if window else None,
            "in_effect": [_status_facts(each, now) for each in in_effect],
            "upcoming": [_status_facts(each, now) for each in upcoming],
            "version": state_service.read_version(),
        }
        if window is not None and window.pause_webhook_processing:
            body["webhooks"] = {"held": True, "waiting": webhook_service.pending_count()}
        click.echo(json.dumps(body, indent=2))
        return
    if window is None:
        click.echo("Maintenance is OFF.")
    else:
        facts = public_facts(window.to_state(), now)
        click.echo(f"Maintenance is ON ({describe(window)}).")
        click.echo(f"  started by {_started_by(window)} at {window.starts_at.isoformat()}")
        if facts["overdue"]:
            click.echo("  OVERDUE: the ETA has passed.")
        elif facts["seconds_remaining"] is not None:
            click.echo(f"  {facts['seconds_remaining']} s until the ETA")
        if window.ends_at:
            click.echo(f"  ends by itself at {window.ends_at.isoformat()}")
        click.echo(f"  message: {window.message}")
        if window.pause_webhook_processing:
            waiting = webhook_service.pending_count()
            click.echo(f"  webhooks: held ({waiting} waiting), processed when the window ends")
        for other in in_effect[1:]:
            click.echo(
                f"  also in effect: {describe(other)}, started by {_started_by(other)} at "
                f"{other.starts_at.isoformat()}; `off` ends both"
            )
    for planned in upcoming:
        minutes = max(1, round((planned.starts_at - now).total_seconds() / 60))
        starts = planned.starts_at.isoformat()
        click.echo(f"Planned: {describe(planned)} starts at {starts} (in {minutes} min)")


def _started_by(window: Any) -> str:
    """Name who started a window; a planned one the worker has not recorded yet started by its schedule."""
    return window.started_by or "the schedule"


def _status_facts(window: Any, now: Any) -> dict[str, Any]:
    """Describe a window for `status --json`: what visitors see, plus what an operator needs."""
    facts = public_facts(window.to_state(), now)
    facts.update(
        status=window.status,
        allowed_roles=window.allowed_roles,
        allowed_ips=window.allowed_ips,
        ends_at=window.ends_at.isoformat() if window.ends_at else None,
        started_by=_started_by(window) if window.starts_at <= now else None,
        seconds_until_start=max(0, int((window.starts_at - now).total_seconds())),
        pause_webhook_processing=window.pause_webhook_processing,
    )
    return facts


def _status_without_the_database(now: Any, as_json: bool, error: OperationalError) -> None:
    """Say what the gate enforces when the database cannot (from Redis or this host's snapshot)."""
    db.session.rollback()
    try:
        state = offline_service.enforced_state()
    except Exception:  # Redis is gone too: say so, do not guess
        state = None
    if state is None:
        fail(f"the database is unavailable and no other copy of the state answers: {error.orig}")
    window = window_in_effect(state, now)
    if as_json:
        body = {"active": window is not None, "window": public_facts(window, now) if window else None,
                "version": state.version, "database": "unavailable", "pending": state.pending}
        click.echo(json.dumps(body, indent=2))
        return
    if window is None:
        click.echo("Maintenance is OFF (the database is unavailable; this is the state the gate enforces).")
    else:
        click.echo(f"Maintenance is ON ({describe(window)}); the database is unavailable, "
                   "this is the state the gate enforces.")
    if state.pending:
        click.echo("  changes made meanwhile wait in Redis for the database")
