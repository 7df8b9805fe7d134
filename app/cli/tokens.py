"""`flask tokens`: create, list, rotate and revoke API tokens (docs/tokens.md)."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Any, NoReturn

import click
from flask.cli import with_appcontext
from pausa_gate.windows import utcnow

from ..maintenance.validation import ValidationError
from ..services import ServiceError
from ..services import tokens as token_service
from .common import SafeGroup, cli_actor, fail


@click.group("tokens", cls=SafeGroup)
def tokens_cli() -> None:
    """Create, list, rotate and revoke API tokens (docs/tokens.md)."""


def _token_field_errors(error: ValidationError) -> NoReturn:
    """Print a token's field errors as the options that carry them, and exit 2."""
    options = {"name": "NAME", "scopes": "--scope", "expires": "--expires", "grace": "--grace"}
    for name, text in error.fields.items():
        click.echo(f"Error: {options.get(name, name)}: {text}", err=True)
    sys.exit(2)


def _minute(moment: Any) -> str:
    """Write a UTC moment to the minute, as the token listing shows it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


@tokens_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(token_service.SCOPES))
@click.option("--expires", help="How long it works: 30m, 12h, 30d (at most 365d; default: never expires).")
@with_appcontext
def tokens_create(name: str, scopes: tuple[str, ...], expires: str | None) -> None:
    """Create a token and print it once (default scope: admin)."""
    try:
        token, raw = token_service.create_token(name, list(scopes), cli_actor(), expires)
    except ValidationError as error:
        _token_field_errors(error)
    except ServiceError as error:
        fail(error.message)
    click.echo(raw)
    if token.expires_at is None:
        lasts = "it never expires (give --expires 30d for one that does)"
    else:
        lasts = f"it expires at {_minute(token.expires_at)}"
    click.echo(f"Token {token.name} ({token.scopes}) created; {lasts}; it is not shown again.", err=True)


@tokens_cli.command("revoke")
@click.argument("name")
@with_appcontext
def tokens_revoke(name: str) -> None:
    """Revoke a token."""
    try:
        token_service.revoke_token(name, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Token {name} revoked.")


@tokens_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts (never a secret).")
@with_appcontext
def tokens_list(as_json: bool) -> None:
    """List tokens: name, scopes, created (by), expires, last used, state (never a secret)."""
    now = utcnow()
    rows = token_service.list_tokens()
    if as_json:
        click.echo(json.dumps({"tokens": [token_service.token_json(row, now) for row in rows]}, indent=2))
        return
    if not rows:
        click.echo("No tokens (create one: flask tokens create NAME --expires 90d).")
        return
    click.echo("NAME\tSCOPES\tCREATED\tBY\tEXPIRES\tLAST USED\tSTATE")
    for token in rows:
        state = token_service.state_of(token, now)
        if state == "rotating":
            state = f"rotating (previous secret until {_minute(token.previous_valid_until)})"
        expires = _minute(token.expires_at) if token.expires_at else "never"
        last_used = _minute(token.last_used_at) if token.last_used_at else "never"
        scopes = ",".join(sorted(token.scope_set))
        click.echo(f"{token.name}\t{scopes}\t{_minute(token.created_at)}\t{token.created_by}\t"
                   f"{expires}\t{last_used}\t{state}")
    click.echo(
        "LAST USED is stamped at most once an hour: the last use is within the hour after it.", err=True
    )


@tokens_cli.command("rotate")
@click.argument("name")
@click.option(
    "--grace", help="How long the previous secret keeps working: 0m (not at all) to 7d (default 1h).",
)
@with_appcontext
def tokens_rotate(name: str, grace: str | None) -> None:
    """Give a token a new secret and print it once; the previous one works until the grace period ends."""
    try:
        token, raw = token_service.rotate_token(name, cli_actor(), grace)
    except ValidationError as error:
        _token_field_errors(error)
    except ServiceError as error:
        fail(error.message)
    click.echo(raw)
    if token.previous_valid_until <= utcnow():
        previous = "the previous secret no longer works"
    else:
        until = _minute(token.previous_valid_until)
        previous = f"the previous secret works until {until}, then only this one"
    click.echo(f"Token {token.name} rotated; {previous}. The new secret is not shown again.", err=True)
