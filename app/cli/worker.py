"""`flask worker`: run the background tasks (automatic ends, deliveries, retention ...)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from ..worker import Worker


@click.command("worker")
@click.option("--once", is_flag=True, help="Run every task once and exit (for tests and cron).")
@click.option(
    "--interval", default=5.0, show_default=True,
    help="Longest pause between passes, in seconds (the heartbeat's period); tasks run on their own periods.",
)
@with_appcontext
def worker_command(once: bool, interval: float) -> None:
    """Run the background tasks (automatic ends, ...) until SIGTERM; write a heartbeat every pass."""
    worker = Worker(current_app._get_current_object(), interval=interval, echo=click.echo)
    status = worker.run(once=once)
    if status:
        click.echo("Error: a task failed or the database is unavailable (see the log).", err=True)
        sys.exit(status)
