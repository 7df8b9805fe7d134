"""`flask maintenance`: turn maintenance on, change it, end it, plan it (docs/windows.md)."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import with_appcontext
from pausa_gate.cli import ACTIVE_FIELDS, differences
from sqlalchemy.exc import OperationalError

from ..extensions import db
from ..maintenance.validation import ValidationError
from ..services import Conflict, NotFound, ServiceError
from ..services import maintenance as maintenance_service
from ..services import offline as offline_service
from ..services import scheduling as scheduling_service
from ..services import state as state_service
from .bypass import maintenance_bypass_link, maintenance_bypass_links, maintenance_bypass_revoke
from .common import (
    DATABASE_ID,
    SafeGroup,
    cli_actor,
    describe,
    fail,
    given,
    print_field_errors,
    unreachable,
    validate,
    window_options,
)
from .status import maintenance_status

HELD_IN_REDIS = (
    "The database is unavailable: the change is enforced from Redis and will be written to the "
    "database, with its audit entry, when it returns."
)


@click.group("maintenance", cls=SafeGroup)
def maintenance_cli() -> None:
    """Turn maintenance on and off, and see its status."""


maintenance_cli.add_command(maintenance_status)
maintenance_cli.add_command(maintenance_bypass_link)
maintenance_cli.add_command(maintenance_bypass_links)
maintenance_cli.add_command(maintenance_bypass_revoke)


def _while_the_database_is_down(change: Any) -> Any:
    """Make the change in Redis alone, or refuse with one line (exit 1, or 2 for bad input)."""
    db.session.rollback()
    try:
        return change()
    except ValidationError as error:
        print_field_errors(error)
        sys.exit(2)
    except ServiceError as error:
        fail(error.message)


@maintenance_cli.command("on")
@window_options
@with_appcontext
def maintenance_on(**options: Any) -> None:
    """Start maintenance now."""
    data = validate(options, partial=False)
    try:
        window = maintenance_service.activate_window(data, cli_actor())
    except Conflict as error:
        # A deploy script that runs `on` twice is done: the same window is already on.
        active = state_service.current_window()
        if active is None or differences(given(options), _as_sent(active), ACTIVE_FIELDS):
            fail(error.message)
        click.echo(f"Maintenance is already ON with these values ({describe(active)}).")
        return
    except ServiceError as error:
        fail(error.message)
    except OperationalError as error:  # the database is down: Redis may hold the change (docs/fail-safe.md)
        if not unreachable(error):
            raise
        window = _while_the_database_is_down(lambda: offline_service.activate(given(options), cli_actor()))
        click.echo(f"Maintenance is ON ({describe(window)}). {HELD_IN_REDIS}")
        return
    click.echo(f"Maintenance is ON ({describe(window)}).")
    planned = maintenance_service.planned_during(window)
    if planned is not None:
        click.echo(
            f"  note: window {planned.id} is planned to start at {planned.starts_at.isoformat()}; "
            "if this one is still on then, both are in effect and `off` ends both."
        )


def _as_sent(window: Any) -> dict[str, Any]:
    """Describe a stored window the way the API answers, to compare it with the options given."""
    return {
        **window.snapshot(),
        "starts_at": window.starts_at.isoformat(),
        "created_at": window.created_at.isoformat() if window.created_at else None,
    }


@maintenance_cli.command("update")
@window_options
@with_appcontext
def maintenance_update(**options: Any) -> None:
    """Change the active window (only the options given)."""
    data = validate(options, partial=True)
    if not data.values:
        fail("give at least one option to change", 2)
    try:
        window = maintenance_service.update_window(data, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Maintenance updated ({describe(window)}).")


@maintenance_cli.command("off")
@with_appcontext
def maintenance_off() -> None:
    """End maintenance now."""
    try:
        ended = maintenance_service.end_maintenance(cli_actor())
    except NotFound:
        click.echo("Maintenance is already OFF.")  # a deploy script's second `off` is done, exit 0
        return
    except ServiceError as error:
        fail(error.message)
    except OperationalError as error:  # the database is down: Redis may hold the change (docs/fail-safe.md)
        if not unreachable(error):
            raise
        window = _while_the_database_is_down(lambda: offline_service.end(cli_actor()))
        click.echo(f"Maintenance is OFF (window {window.id} ended). {HELD_IN_REDIS}")
        return
    ids = [window.id for window in ended.windows]
    named = f"window {ids[0]}" if len(ids) == 1 else f"windows {', '.join(map(str, ids[:-1]))} and {ids[-1]}"
    click.echo(f"Maintenance is OFF ({named} ended).")


@maintenance_cli.command("schedule")
@click.option(
    "--start", "starts_at", required=True,
    help="When it starts: 2h, 1d from now, or ISO-8601 (UTC without an offset).",
)
@click.option("--notice-minutes", "notice_minutes", type=int, help="Show the banner this long before.")
@click.option("--drain-minutes", "drain_minutes", type=int, help="Refuse writes this long before.")
@window_options
@with_appcontext
def maintenance_schedule(**options: Any) -> None:
    """Plan a window that starts later (the gate starts and ends it by the clock)."""
    data = validate(options, partial=False)
    try:
        window = scheduling_service.schedule_window(data, cli_actor())
    except ValidationError as error:
        print_field_errors(error)
        sys.exit(2)
    except ServiceError as error:
        fail(error.message)
    ends = window.ends_at.isoformat() if window.ends_at else "when ended"
    click.echo(f"Scheduled {describe(window)} starts={window.starts_at.isoformat()} ends={ends}.")


@maintenance_cli.command("cancel")
@click.argument("window_id", metavar="ID", type=DATABASE_ID)
@with_appcontext
def maintenance_cancel(window_id: int) -> None:
    """Cancel a scheduled window before it starts."""
    try:
        window = scheduling_service.cancel_window(window_id, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Cancelled window {window.id} (it was to start at {window.starts_at.isoformat()}).")
