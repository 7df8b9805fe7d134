"""The `flask` commands operators and deploy scripts rely on."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Any

import click
from flask import current_app
from flask.cli import with_appcontext
from pausa_gate.state import ROLES, Actor, Mode, Reason
from pausa_gate.windows import parse_moment, public_facts, utcnow, window_in_effect
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from .extensions import db
from .inputs import MAX_DATABASE_ID
from .maintenance.audit_view import csv_lines
from .maintenance.validation import ValidationError, has_unstorable_text, validate_window
from .services import ServiceError
from .services import audit as audit_service
from .services import maintenance as maintenance_service
from .services import offline as offline_service
from .services import scheduling as scheduling_service
from .services import sessions as session_service
from .services import tokens as token_service
from .services import users as user_service

# An id beyond any row's is a usage error, not a query that fails (docs/errors.md).
DATABASE_ID = click.IntRange(1, MAX_DATABASE_ID)


class SafeGroup(click.Group):
    """A command group that turns database failures into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OperationalError as error:
            if not _unreachable(error):
                _database_missing(error)
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
            _database_missing(error)


def _unreachable(error: OperationalError) -> bool:
    """Tell a database that does not answer from one that is not migrated (SQLite: "no such table")."""
    return "no such table" not in str(error)


def _database_missing(error: SQLAlchemyError) -> None:
    reason = str(getattr(error, "orig", error)).splitlines()[0]
    click.echo(
        f"Error: the database is unavailable or not migrated (try `flask db upgrade`): {reason}", err=True
    )
    sys.exit(1)


def cli_actor() -> Actor:
    return Actor(f"cli:{current_app.config['CLI_ACTOR']}")


def window_options(command: Any) -> Any:
    """Add the window options shared by `on`, `update` and `schedule`."""
    options = [
        click.option("--message", help="Text shown to users (at most 500 characters)."),
        click.option("--eta", help="Estimated return: 30m, 2h or ISO-8601."),
        click.option("--reason", type=click.Choice([r.value for r in Reason])),
        click.option("--mode", type=click.Choice([m.value for m in Mode])),
        click.option("--scope", "scope_paths", multiple=True, help="Path prefix to block (scoped mode)."),
        click.option("--allow-role", "allowed_roles", multiple=True, type=click.Choice(ROLES)),
        click.option("--allow-ip", "allowed_ips", multiple=True, help="IP or CIDR that bypasses."),
        click.option("--ends-at", "ends_at", help="Hard automatic end: ISO-8601 or 30m, 2h."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """Keep only the options the operator actually passed."""
    return {name: value for name, value in options.items() if value not in (None, ())}


HELD_IN_REDIS = (
    "The database is unavailable: the change is enforced from Redis and will be written to the "
    "database, with its audit entry, when it returns."
)


def _while_the_database_is_down(change: Any) -> Any:
    """Make the change in Redis alone, or refuse with one line (exit 1, or 2 for bad input)."""
    db.session.rollback()
    try:
        return change()
    except ValidationError as error:
        _print_field_errors(error)
        sys.exit(2)
    except ServiceError as error:
        _fail(error.message)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


def _validate(options: dict[str, Any], partial: bool) -> Any:
    try:
        return validate_window(_given(options), utcnow(), partial=partial)
    except ValidationError as error:
        _print_field_errors(error)
        sys.exit(2)


def _print_field_errors(error: ValidationError) -> None:
    options = {"starts_at": "start"}  # field names that differ from their option's name
    for name, text in error.fields.items():
        click.echo(f"Error: --{options.get(name, name).replace('_', '-')}: {text}", err=True)


def _describe(window: Any) -> str:
    eta = window.eta.isoformat() if window.eta else "none"
    return f"window {window.id}: mode={window.mode} reason={window.reason} eta={eta}"


@click.group("maintenance", cls=SafeGroup)
def maintenance_cli() -> None:
    """Turn maintenance on and off, and see its status."""


@maintenance_cli.command("on")
@window_options
@with_appcontext
def maintenance_on(**options: Any) -> None:
    """Start maintenance now."""
    data = _validate(options, partial=False)
    try:
        window = maintenance_service.activate_window(data, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    except OperationalError as error:  # the database is down: Redis may hold the change (docs/fail-safe.md)
        if not _unreachable(error):
            raise
        window = _while_the_database_is_down(lambda: offline_service.activate(_given(options), cli_actor()))
        click.echo(f"Maintenance is ON ({_describe(window)}). {HELD_IN_REDIS}")
        return
    click.echo(f"Maintenance is ON ({_describe(window)}).")


@maintenance_cli.command("update")
@window_options
@with_appcontext
def maintenance_update(**options: Any) -> None:
    """Change the active window (only the options given)."""
    data = _validate(options, partial=True)
    if not data.values:
        _fail("give at least one option to change", 2)
    try:
        window = maintenance_service.update_window(data, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Maintenance updated ({_describe(window)}).")


@maintenance_cli.command("off")
@with_appcontext
def maintenance_off() -> None:
    """End maintenance now."""
    try:
        window = maintenance_service.end_window(cli_actor())
    except ServiceError as error:
        _fail(error.message)
    except OperationalError as error:  # the database is down: Redis may hold the change (docs/fail-safe.md)
        if not _unreachable(error):
            raise
        window = _while_the_database_is_down(lambda: offline_service.end(cli_actor()))
        click.echo(f"Maintenance is OFF (window {window.id} ended). {HELD_IN_REDIS}")
        return
    click.echo(f"Maintenance is OFF (window {window.id} ended).")


@maintenance_cli.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@with_appcontext
def maintenance_status(as_json: bool) -> None:
    """Print whether maintenance is on (exit code 0 either way)."""
    now = utcnow()
    try:
        window = maintenance_service.current_window(now)
    except OperationalError as error:
        if not _unreachable(error):
            raise
        _status_without_the_database(now, as_json, error)
        return
    if as_json:
        body = {
            "active": window is not None,
            "window": public_facts(window.to_state(), now) if window else None,
            "version": maintenance_service.read_version(),
        }
        if window is not None:
            body["window"].update(
                allowed_roles=window.allowed_roles,
                allowed_ips=window.allowed_ips,
                ends_at=window.ends_at.isoformat() if window.ends_at else None,
                started_by=window.started_by,
            )
        click.echo(json.dumps(body, indent=2))
        return
    if window is None:
        click.echo("Maintenance is OFF.")
        return
    facts = public_facts(window.to_state(), now)
    click.echo(f"Maintenance is ON ({_describe(window)}).")
    click.echo(f"  started by {window.started_by} at {window.starts_at.isoformat()}")
    if facts["overdue"]:
        click.echo("  OVERDUE: the ETA has passed.")
    elif facts["seconds_remaining"] is not None:
        click.echo(f"  {facts['seconds_remaining']} s until the ETA")
    click.echo(f"  message: {window.message}")


def _status_without_the_database(now: Any, as_json: bool, error: OperationalError) -> None:
    """Say what the gate enforces when the database cannot (from Redis or this host's snapshot)."""
    db.session.rollback()
    try:
        state = offline_service.enforced_state()
    except Exception:  # Redis is gone too: say so, do not guess
        state = None
    if state is None:
        _fail(f"the database is unavailable and no other copy of the state answers: {error.orig}")
    window = window_in_effect(state, now)
    if as_json:
        body = {"active": window is not None, "window": public_facts(window, now) if window else None,
                "version": state.version, "database": "unavailable", "pending": state.pending}
        click.echo(json.dumps(body, indent=2))
        return
    if window is None:
        click.echo("Maintenance is OFF (the database is unavailable; this is the state the gate enforces).")
    else:
        click.echo(f"Maintenance is ON ({_describe(window)}); the database is unavailable, "
                   "this is the state the gate enforces.")
    if state.pending:
        click.echo("  changes made meanwhile wait in Redis for the database")


@maintenance_cli.command("schedule")
@click.option(
    "--start", "starts_at", required=True, help="When it starts: ISO-8601 (UTC without an offset), or 2h, 1d."
)
@click.option("--notice-minutes", "notice_minutes", type=int, help="Show the banner this long before.")
@click.option("--drain-minutes", "drain_minutes", type=int, help="Refuse writes this long before.")
@window_options
@with_appcontext
def maintenance_schedule(**options: Any) -> None:
    """Plan a window that starts later (the gate starts and ends it by the clock)."""
    data = _validate(options, partial=False)
    try:
        window = scheduling_service.schedule_window(data, cli_actor())
    except ValidationError as error:
        _print_field_errors(error)
        sys.exit(2)
    except ServiceError as error:
        _fail(error.message)
    ends = window.ends_at.isoformat() if window.ends_at else "when ended"
    click.echo(f"Scheduled {_describe(window)} starts={window.starts_at.isoformat()} ends={ends}.")


@maintenance_cli.command("cancel")
@click.argument("window_id", metavar="ID", type=DATABASE_ID)
@with_appcontext
def maintenance_cancel(window_id: int) -> None:
    """Cancel a scheduled window before it starts."""
    try:
        window = scheduling_service.cancel_window(window_id, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Cancelled window {window.id} (it was to start at {window.starts_at.isoformat()}).")


@maintenance_cli.command("bypass-link")
@click.option("--expires", help="How long the link works: 30m, 2h, 1d (default 12h, at most 48h).")
@click.option(
    "--window", "window_id", type=DATABASE_ID, help="Window id (default: active, else next scheduled)."
)
@click.option("--base-url", help="Site for the printed URL (default: GATE_SITE_URL, else PUBLIC_URL).")
@with_appcontext
def maintenance_bypass_link(expires: str | None, window_id: int | None, base_url: str | None) -> None:
    """Print a bypass link (shown once) that lets its holder through the window."""
    from .services import bypass as bypass_service

    try:
        bypass_service.parse_expiry(expires)
    except ServiceError as error:
        _fail(f"--expires: {error.message}", 2)
    try:
        link, raw = bypass_service.create_link(cli_actor(), expires, window_id)
    except ServiceError as error:
        _fail(error.message)
    click.echo(bypass_service.link_url(raw, base_url))
    click.echo(
        f"Bypass link {link.id} for window {link.window_id}, valid until {link.expires_at.isoformat()}; "
        f"it is not shown again (revoke: flask maintenance bypass-revoke {link.id}).",
        err=True,
    )


@maintenance_cli.command("bypass-links")
@with_appcontext
def maintenance_bypass_links() -> None:
    """List the bypass links that still work."""
    from .services import bypass as bypass_service

    for link in bypass_service.live_links():
        click.echo(f"{link.id}\twindow {link.window_id}\t{link.expires_at.isoformat()}\t{link.created_by}")


@maintenance_cli.command("bypass-revoke")
@click.argument("link_id", type=DATABASE_ID)
@with_appcontext
def maintenance_bypass_revoke(link_id: int) -> None:
    """Revoke a bypass link at once on every worker."""
    from .services import bypass as bypass_service

    try:
        bypass_service.revoke_link(link_id, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Bypass link {link_id} revoked.")


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
        _fail(error.message)
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
        _fail(error.message)
    click.echo(f"{user.email} is now {user.role}.")


@users_cli.command("set-password")
@click.argument("email")
@click.option("--password", help="Prompted for (hidden, twice) when not given.")
@with_appcontext
def users_set_password(email: str, password: str | None) -> None:
    """Change a user's password; every session of theirs ends."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = user_service.set_password(email, password, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Password of {user.email} changed; they are signed out everywhere.")


@users_cli.command("sign-out-everywhere")
@click.argument("email")
@with_appcontext
def users_sign_out_everywhere(email: str) -> None:
    """End every session of a user (exit 1 when there is no such user, 2 for a malformed email)."""
    try:
        user_service.normalise_email(email)
    except ServiceError as error:
        _fail(error.message, 2)
    try:
        count = session_service.sign_out_everywhere(email, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Signed out {email.strip()} everywhere ({count} session{'s' if count != 1 else ''} ended).")


@users_cli.command("list")
@with_appcontext
def users_list() -> None:
    """List users."""
    for user in user_service.list_users():
        click.echo(f"{user.email}\t{user.role}")


@users_cli.command("bootstrap")
@click.option("--email", default="admin@localhost.localdomain", show_default=True)
@with_appcontext
def users_bootstrap(email: str) -> None:
    """Create the first admin and print its password once (does nothing if an admin exists)."""
    created = user_service.bootstrap_admin(email, cli_actor())
    if created is None:
        click.echo("An admin already exists; nothing to do.")
        return
    user, password = created
    click.echo("First admin created. This password is shown only once:")
    click.echo(f"  email:    {user.email}")
    click.echo(f"  password: {password}")


@click.group("tokens", cls=SafeGroup)
def tokens_cli() -> None:
    """Create and revoke API tokens."""


@tokens_cli.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(token_service.SCOPES))
@with_appcontext
def tokens_create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a token and print it once (default scope: admin)."""
    try:
        token, raw = token_service.create_token(name, list(scopes), cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(raw)
    click.echo(f"Token {token.name} ({token.scopes}) created; it is not shown again.", err=True)


@tokens_cli.command("revoke")
@click.argument("name")
@with_appcontext
def tokens_revoke(name: str) -> None:
    """Revoke a token."""
    try:
        token_service.revoke_token(name, cli_actor())
    except ServiceError as error:
        _fail(error.message)
    click.echo(f"Token {name} revoked.")


@click.group("audit", cls=SafeGroup)
def audit_cli() -> None:
    """Check and export the audit trail."""


@audit_cli.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Walk the hash chain; exit 1 and name the first broken entry if any."""
    report = audit_service.verify_chain()
    if report.ok:
        click.echo(f"Audit chain OK ({report.checked} entries).")
        return
    _fail(f"audit chain broken at entry {report.broken_id}: {report.problem} "
          f"({report.checked} entries verified before it)")


@audit_cli.command("export")
@click.option("--action", default="", help="Only this action, e.g. maintenance.activated.")
@click.option("--actor", default="", help="Only this actor, e.g. cli:deploy.")
@click.option("--since", default=None, help="Entries at or after this moment (ISO-8601, UTC if no offset).")
@click.option("--until", default=None, help="Entries before this moment (ISO-8601).")
@with_appcontext
def audit_export(action: str, actor: str, since: str | None, until: str | None) -> None:
    """Write the trail (or the filtered part) as formula-safe CSV to standard output, oldest first."""
    moments: dict[str, Any] = {}
    for name, raw in (("since", since), ("until", until)):
        if raw:
            try:
                moments[name] = parse_moment(raw, utcnow()).astimezone(UTC)
            except ValueError:
                _fail(f"--{name}: use an ISO-8601 date, like 2026-01-31 or 2026-01-31T02:00Z.", code=2)
    for name, raw in (("action", action), ("actor", actor)):
        if has_unstorable_text(raw):
            _fail(f"--{name}: contains invalid characters (such as a NUL byte).", code=2)
    filters = audit_service.AuditFilters(action=action.strip(), actor=actor.strip(), **moments)
    for line in csv_lines(audit_service.iter_filtered(filters)):
        sys.stdout.write(line)


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every task once and exit (for tests and cron).")
@click.option(
    "--interval", default=5.0, show_default=True,
    help="Longest pause between passes, in seconds (the heartbeat's period); tasks run on their own periods.",
)
@with_appcontext
def worker_command(once: bool, interval: float) -> None:
    """Run the background tasks (automatic ends, ...) until SIGTERM; write a heartbeat every pass."""
    from .worker import Worker

    worker = Worker(current_app._get_current_object(), interval=interval, echo=click.echo)
    status = worker.run(once=once)
    if status:
        click.echo("Error: a task failed or the database is unavailable (see the log).", err=True)
        sys.exit(status)
