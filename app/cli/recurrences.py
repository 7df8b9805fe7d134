"""`flask recurrences`: windows that repeat, planned ahead as scheduled windows (docs/recurrences.md)."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import with_appcontext
from pausa_gate.state import Mode, Reason

from ..maintenance.validation import ValidationError
from ..services import ServiceError
from ..services import recurrences as recurrence_service
from .common import DATABASE_ID, SafeGroup, cli_actor, fail, given


@click.group("recurrences", cls=SafeGroup)
def recurrences_cli() -> None:
    """Define windows that repeat; their next occurrences are planned as scheduled windows."""


def _describe_recurrence(recurrence: Any) -> str:
    """Describe a recurrence in one line: its rule and its message."""
    rule = recurrence.rule
    week = f" week {rule['week']}" if rule.get("week") else ""
    spec = recurrence_service.spec(recurrence)
    return (f"recurrence {recurrence.id} ({recurrence.status}): {rule['frequency']} on {rule['weekday']}"
            f"{week} {rule['start']}-{rule['end']} {rule['time_zone']}, message {spec.get('message')!r}")


def _recurrence_change(change: Any) -> Any:
    """Run a change; print field errors (exit 2) or a refusal (exit 1) like the other commands."""
    try:
        return change()
    except ValidationError as error:
        for name, text in error.fields.items():
            click.echo(f"Error: --{name.replace('_', '-')}: {text}", err=True)
        sys.exit(2)
    except ServiceError as error:
        fail(error.message)


@recurrences_cli.command("create")
@click.option("--frequency", type=click.Choice(["weekly", "monthly"]), required=True)
@click.option("--weekday", required=True, help="MO, TU, WE, TH, FR, SA or SU.")
@click.option("--week", type=int, help="Monthly: 1 to 4 for the first to fourth weekday, -1 for the last.")
@click.option("--start", required=True, help="Local start time, like 02:00.")
@click.option("--end", required=True, help="Local end time, like 04:00 (earlier than --start: the next day).")
@click.option("--time-zone", "time_zone", required=True, help="IANA time zone, like America/Sao_Paulo.")
@click.option("--message", help="Text shown to users during each occurrence.")
@click.option(
    "--message-in", "messages", nargs=2, multiple=True, metavar="LANGUAGE TEXT",
    help="The message in another language, e.g. --message-in pt-BR 'Manutenção semanal' (repeatable).",
)
@click.option("--reason", type=click.Choice([r.value for r in Reason]))
@click.option("--mode", type=click.Choice([m.value for m in Mode]))
@click.option("--scope", "scope_paths", multiple=True, help="Path prefix to block (scoped mode).")
@click.option("--notice-minutes", "notice_minutes", type=int, help="Show the banner this long before.")
@click.option("--drain-minutes", "drain_minutes", type=int, help="Refuse writes this long before.")
@with_appcontext
def recurrences_create(**options: Any) -> None:
    """Define a recurrence and plan its next occurrences."""
    recurrence = _recurrence_change(
        lambda: recurrence_service.create_recurrence(given(options), cli_actor())
    )
    click.echo(f"Created {_describe_recurrence(recurrence)}.")
    for window in recurrence_service.upcoming_occurrences(recurrence):
        click.echo(f"  window {window.id}: {window.starts_at.isoformat()} to {window.ends_at.isoformat()}")


@recurrences_cli.command("list")
@with_appcontext
def recurrences_list() -> None:
    """List recurrences and their planned occurrences."""
    rows = recurrence_service.list_recurrences()
    if not rows:
        click.echo("No recurrences.")
    for recurrence in rows:
        click.echo(_describe_recurrence(recurrence))
        rule = recurrence_service.rule_of(recurrence)
        for window in recurrence_service.upcoming_occurrences(recurrence):
            moved = " (moved)" if recurrence_service.is_moved(window, rule) else ""
            click.echo(f"  window {window.id} {window.status}: {window.starts_at.isoformat()}{moved}")


@recurrences_cli.command("pause")
@click.argument("recurrence_id", metavar="ID", type=DATABASE_ID)
@with_appcontext
def recurrences_pause(recurrence_id: int) -> None:
    """Stop planning; its future untouched occurrences are cancelled."""
    recurrence = _recurrence_change(lambda: recurrence_service.pause_recurrence(recurrence_id, cli_actor()))
    click.echo(f"Paused {_describe_recurrence(recurrence)}.")


@recurrences_cli.command("resume")
@click.argument("recurrence_id", metavar="ID", type=DATABASE_ID)
@with_appcontext
def recurrences_resume(recurrence_id: int) -> None:
    """Plan again from now on."""
    recurrence = _recurrence_change(lambda: recurrence_service.resume_recurrence(recurrence_id, cli_actor()))
    click.echo(f"Resumed {_describe_recurrence(recurrence)}.")


@recurrences_cli.command("delete")
@click.argument("recurrence_id", metavar="ID", type=DATABASE_ID)
@with_appcontext
def recurrences_delete(recurrence_id: int) -> None:
    """Delete a recurrence; its future untouched occurrences are cancelled, past ones kept."""
    _recurrence_change(lambda: recurrence_service.delete_recurrence(recurrence_id, cli_actor()))
    click.echo(f"Deleted recurrence {recurrence_id}.")
