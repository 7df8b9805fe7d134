"""`flask webhooks`: register, list and remove webhook subscribers (docs/webhook-subscribers.md)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from ..maintenance.validation import ValidationError
from ..services import ServiceError
from ..services import webhook_subscribers as subscriber_service
from .common import DATABASE_ID, SafeGroup, cli_actor, fail


@click.group("webhooks", cls=SafeGroup)
def webhooks_cli() -> None:
    """Register, list and remove webhook subscribers (URLs that receive the window notices)."""


@webhooks_cli.command("add")
@click.argument("url")
@click.option("--name", default=None, help="A name to recognise it by (default: the URL's host).")
@with_appcontext
def webhooks_add(url: str, name: str | None) -> None:
    """Register URL and print its signing secret once (Standard Webhooks whsec_...)."""
    body = {"url": url} if name is None else {"url": url, "name": name}
    try:
        subscriber, secret = subscriber_service.register(body, cli_actor())
    except ValidationError as error:
        for field, text in error.fields.items():
            click.echo(f"Error: {'URL' if field == 'url' else '--' + field}: {text}", err=True)
        sys.exit(2)
    click.echo(secret)
    click.echo(
        f"Webhook subscriber {subscriber.id} ({subscriber.name}) registered; the secret above is not "
        f"shown again (remove: flask webhooks remove {subscriber.id}).",
        err=True,
    )


@webhooks_cli.command("list")
@with_appcontext
def webhooks_list() -> None:
    """List the webhook subscribers: id, state, name, URL, last answer (never the secrets)."""
    for subscriber in subscriber_service.list_subscribers():
        state = "active" if subscriber.active else "disabled"
        last = subscriber.last_status or subscriber.last_error or "-"
        click.echo(f"{subscriber.id}\t{state}\t{subscriber.name}\t{subscriber.url}\t{last}")


@webhooks_cli.command("remove")
@click.argument("subscriber_id", type=DATABASE_ID)
@with_appcontext
def webhooks_remove(subscriber_id: int) -> None:
    """Disable a webhook subscriber at once: nothing more is sent to it."""
    try:
        subscriber_service.disable(subscriber_id, cli_actor())
    except ServiceError as error:
        fail(error.message)
    click.echo(f"Webhook subscriber {subscriber_id} removed.")
