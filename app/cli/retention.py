"""`flask retention prune`: delete finished rows past their retention (docs/retention.md)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from ..services import retention as retention_service
from .common import SafeGroup, cli_actor


@click.group("retention", cls=SafeGroup)
def retention_cli() -> None:
    """Delete finished rows past their retention (the worker does it every hour)."""


@retention_cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@with_appcontext
def retention_prune(dry_run: bool) -> None:
    """Delete finished rows past RETENTION_WEBHOOKS_DAYS / RETENTION_NOTIFICATIONS_DAYS; print counts."""
    if dry_run:
        report = retention_service.prune(actor=cli_actor(), dry_run=True)
    else:
        report = retention_service.prune_all(actor=cli_actor())
    days = retention_service.retention_days()
    verb = "would be deleted" if dry_run else "deleted"
    for name, kept in days.items():
        if kept:
            click.echo(f"{name}: {report.counts.get(name, 0)} {verb} (older than {kept} days)")
        else:
            click.echo(f"{name}: kept forever (retention 0)")
    click.echo(f"Total: {report.total} row{'s' if report.total != 1 else ''} {verb}.")
