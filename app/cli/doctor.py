"""`flask doctor`: check settings, database, Redis, worker, clock, audit trail and queues (docs/doctor.md)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask.cli import with_appcontext

from ..services import doctor as doctor_service

DOCTOR_LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}


def print_doctor_report(results: list[Any], as_json: bool) -> None:
    """Print one line per check (or JSON), then exit 1 if any check failed."""
    broken = doctor_service.failed(results)
    if as_json:
        body = {"ok": not broken, "checks": [result.as_dict() for result in results]}
        click.echo(json.dumps(body, indent=2))
    else:
        width = max(len(result.check) for result in results)
        for result in results:
            click.echo(f"{DOCTOR_LABELS[result.status]:<4}  {result.check:<{width}}  {result.message}")
    if broken:
        sys.exit(1)


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@with_appcontext
def doctor_command(as_json: bool) -> None:
    """Check settings, database, Redis, worker, clock, audit trail and queues; exit 1 if any FAIL."""
    print_doctor_report(doctor_service.run_checks(), as_json)
