"""What every command group shares: database failures as one line, the actor, the window options, errors."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click
from flask import current_app
from pausa_gate.state import ROLES, Actor, Mode, Reason
from pausa_gate.windows import utcnow
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from ..inputs import MAX_DATABASE_ID
from ..maintenance.validation import ValidationError, validate_window

# An id beyond any row's is a usage error, not a query that fails (docs/errors.md).
DATABASE_ID = click.IntRange(1, MAX_DATABASE_ID)


class SafeGroup(click.Group):
    """A command group that turns database failures into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as error:
            if not unreachable(error):
                database_missing(error)
            # Refused on purpose while the database is down: it is the record of every change and
            # its audit entry (docs/fail-safe.md). The gate keeps what it knew.
            reason = str(getattr(error, "orig", error)).splitlines()[0]
            click.echo(
                "Error: the database is unavailable, nothing was changed (the gate keeps enforcing "
                f"the last known state): {reason}",
                err=True,
            )
            sys.exit(1)
        except SQLAlchemyError as error:
            database_missing(error)


def unreachable(error: OperationalError) -> bool:
    """Tell a database that does not answer from one that is not migrated (SQLite: "no such table")."""
    return "no such table" not in str(error)


def database_missing(error: SQLAlchemyError) -> NoReturn:
    """Say the database is down or not migrated, and exit 1."""
    reason = str(getattr(error, "orig", error)).splitlines()[0]
    click.echo(
        f"Error: the database is unavailable or not migrated (try `flask db upgrade`): {reason}", err=True
    )
    sys.exit(1)


def cli_actor() -> Actor:
    """Name the operator running the command, for the audit trail."""
    return Actor(f"cli:{current_app.config['CLI_ACTOR']}")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one error line and exit (1: refused, 2: bad input)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def window_options(command: Any) -> Any:
    """Add the window options shared by `on`, `update` and `schedule`."""
    options = [
        click.option("--message", help="Text shown to users (at most 500 characters)."),
        click.option(
            "--message-in", "messages", nargs=2, multiple=True, metavar="LANGUAGE TEXT",
            help="The message in another language, e.g. --message-in pt-BR 'Voltamos logo' (repeatable).",
        ),
        click.option("--eta", help="Estimated return: 30m, 2h from the start (now, or --start) or ISO-8601."),
        click.option("--reason", type=click.Choice([r.value for r in Reason])),
        click.option("--mode", type=click.Choice([m.value for m in Mode])),
        click.option("--scope", "scope_paths", multiple=True, help="Path prefix to block (scoped mode)."),
        click.option("--allow-role", "allowed_roles", multiple=True, type=click.Choice(ROLES)),
        click.option("--allow-ip", "allowed_ips", multiple=True, help="IP or CIDR that bypasses."),
        click.option("--ends-at", "ends_at", help="Hard automatic end: 30m, 2h from the start, or ISO-8601."),
        click.option(
            "--pause-webhooks/--process-webhooks", "pause_webhook_processing", default=None,
            help="Hold incoming webhooks (stored, not processed) until the window ends; off by default.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def given(options: dict[str, Any]) -> dict[str, Any]:
    """Keep only the options the operator actually passed."""
    passed = {name: value for name, value in options.items() if value not in (None, ())}
    if "messages" in passed:  # pairs of (language, text) from --message-in
        passed["messages"] = dict(passed["messages"])
    return passed


def validate(options: dict[str, Any], partial: bool) -> Any:
    """Check the window options given; print each field's error and exit 2 on bad input."""
    try:
        return validate_window(given(options), utcnow(), partial=partial)
    except ValidationError as error:
        print_field_errors(error)
        sys.exit(2)


def print_field_errors(error: ValidationError) -> None:
    """Print each field's error as the option that carries it."""
    options = {"starts_at": "start"}  # field names that differ from their option's name
    for name, text in error.fields.items():
        if name.startswith("messages"):  # messages.pt-BR: the --message-in pair for that language
            language = name.partition(".")[2]
            click.echo(f"Error: --message-in {language}: {text}".replace("in :", "in:"), err=True)
            continue
        click.echo(f"Error: --{options.get(name, name).replace('_', '-')}: {text}", err=True)


def describe(window: Any) -> str:
    """Describe a window in one line: id, mode, reason and ETA."""
    eta = window.eta.isoformat() if window.eta else "none"
    return f"window {window.id}: mode={window.mode} reason={window.reason} eta={eta}"


def boxed(lines: list[str]) -> str:
    """Frame lines in a box, so the one thing to copy stands out of the install output."""
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 4) + "+"
    return "\n".join([rule, *(f"|  {line.ljust(width)}  |" for line in lines), rule])
