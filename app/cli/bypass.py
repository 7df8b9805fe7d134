"""`flask maintenance bypass-link`, `bypass-links`, `bypass-revoke`: links that let testers through."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..services import ServiceError
from ..services import bypass as bypass_service
from .common import DATABASE_ID, cli_actor, fail


@click.command("bypass-link")
@click.option("--expires", help="How long the link works: 30m, 2h, 1d (default 12h, at most 48h).")
@click.option(
    "--window", "window_id", type=DATABASE_ID, help="Window id (default: active, else next scheduled)."
)
@click.option("--base-url", help="Site for the printed URL (default: GATE_SITE_URL, else PUBLIC_URL).")
@with_appcontext
def maintenance_bypass_link(expires: str | None, window_id: int | None, base_url: str | None) -> None:
    """Print a bypass link (shown once) that lets its holder through the window."""
    try:
        bypass_service.parse_expiry(expires)
    except ServiceError as error:
        fail(f"--expires: {error.message}", 2)
    try:
        link, raw = bypass_service.create_link(cli_actor(), expires, window_id)
    except ServiceError as error:
        fail(error.message)
    click.echo(bypass_service.link_url(raw, base_url))
    click.echo(
        f"Bypass link {link.id} for window {link.window_id}, valid until {link.expires_at.isoformat()}; "
        f"it is not shown again (revoke: flask maintenance bypass-revoke {link.id}).",
        err=True,
    )


@click.command("bypass-links")
@with_appcontext
def maintenance_bypass_links() -> None:
    """List the bypass links that still work."""
    for link in bypass_service.live_links():
        click.echo(f"{link.id}\twindow {link.window_id}\t{link.expires_at.isoformat()}\t{link.created_by}")


@click.command("bypass-revoke")
@click.argument("link_id", type=DATABASE_ID)
@with_appcontext
def maintenance_bypass_revoke(link_id: int) -> None:
    """Revoke a bypass link at once on every worker."""
    try:
        bypass_service.revoke_link(link_id, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Bypass link {link_id} revoked.")
