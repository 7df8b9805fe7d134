"""`flask users`: create users, change roles and passwords, make the first admin."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from pausa_gate.state import ROLES

from ..inputs import normalise_email
from ..services import ServiceError, password_links
from ..services import sessions as session_service
from ..services import users as user_service
from .common import SafeGroup, boxed, cli_actor, fail


@click.group("users", cls=SafeGroup)
def users_cli() -> None:
    """Create users and manage roles."""


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@with_appcontext
def users_create(email: str, role: str, password: str | None) -> None:
    """Create a user."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = user_service.create_user(email, role, password, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Created {user.email} ({user.role}).")


@users_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES))
@with_appcontext
def users_set_role(email: str, role: str) -> None:
    """Change a user's role."""
    try:
        user = user_service.set_role(email, role, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"{user.email} is now {user.role}.")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@click.option("--link", is_flag=True, help="Print a one-time link to set it in a browser instead.")
@with_appcontext
def users_set_password(email: str, password: str | None, link: bool) -> None:
    """Change a user's password (every session of theirs ends), or print a one-time link to set it."""
    if link:
        if password is not None:
            fail("--link and --password do not go together: the link's holder chooses the password.", 2)
        _print_password_link(email)
        return
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = user_service.set_password(email, password, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Password of {user.email} changed; they are signed out everywhere.")


def _print_password_link(email: str) -> None:
    """Print a fresh one-time set-password link (exit 1 for an unknown user, 2 for a malformed email)."""
    try:
        normalise_email(email)
    except ServiceError as error:
        fail(error.message, 2)
    try:
        user, url = password_links.issue_link(email, cli_actor())
    except ServiceError as error:
        fail(error.message)
    _echo_link(f"Set the password of {user.email} once, within {_link_hours()}, at:", url)


def _echo_link(heading: str, url: str, *after: str) -> None:
    """Print a set-password link alone on its line (no box around it, so it copies whole)."""
    click.echo("\n".join([heading, "", f"    {url}", "", *_prefix_hint(url), *after]))


def _link_hours() -> str:
    """Say how long a set-password link works, e.g. "24 hours"."""
    hours = current_app.config["PASSWORD_LINK_HOURS"]
    return f"{hours:g} hour{'s' if hours != 1 else ''}"


def _prefix_hint(url: str) -> list[str]:
    """Say what to put before a bare path (PUBLIC_URL unset: the command cannot know the address)."""
    if not url.startswith("/"):
        return []
    return ["Put this app's address in front (e.g. https://<app>.herokuapp.com), or set PUBLIC_URL."]


@users_cli.command("sign-out-everywhere")
@click.argument("email")
@with_appcontext
def users_sign_out_everywhere(email: str) -> None:
    """End every session of a user (exit 1 when there is no such user, 2 for a malformed email)."""
    try:
        normalise_email(email)
    except ServiceError as error:
        fail(error.message, 2)
    try:
        count = session_service.sign_out_everywhere(email, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Signed out {email.strip()} everywhere ({count} session{'s' if count != 1 else ''} ended).")


@users_cli.command("list")
@with_appcontext
def users_list() -> None:
    """List users."""
    for user in user_service.list_users():
        click.echo(f"{user.email}\t{user.role}")


@users_cli.command("bootstrap")
@click.option("--email", help="The admin's email (default: ADMIN_EMAIL, else admin@localhost.localdomain).")
@click.option(
    "--link/--show-password", "link", default=None,
    help="Print a one-time set-password link (the default in production) or the password itself.",
)
@with_appcontext
def users_bootstrap(email: str | None, link: bool | None) -> None:
    """Create the first admin and print a one-time link or its password (does nothing if an admin exists)."""
    email = email or current_app.config["ADMIN_EMAIL"] or "admin@localhost.localdomain"
    if link is None:  # a production log (a build's, a deploy's) must never hold a password
        link = current_app.config["ENVIRONMENT"] == "production"
    created = user_service.bootstrap_admin(email, cli_actor())
    if created is None:
        click.echo("An admin already exists; nothing to do.")
        return
    user, password = created
    if link:
        url = password_links.link_url(password_links.make_token(user))
        _echo_link(
            f"First admin created: {user.email}. Choose its password once, within {_link_hours()}, at:", url,
            f"Expired? flask users set-password {user.email} --link",
        )
        return
    click.echo(boxed([
        "First admin created. This password is shown only once: copy it now.",
        "",
        f"  email:    {user.email}",
        f"  password: {password}",
        "",
        f"Sign in at {(current_app.config['PUBLIC_URL'] or 'http://127.0.0.1:5000').rstrip('/')}/auth/login",
        f"Lost it? flask users set-password {user.email}",
    ]))
