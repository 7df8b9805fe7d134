"""`flask audit`: check the audit trail's hash chain and export it as CSV."""

from __future__ import annotations

import sys
from datetime import UTC
from typing import Any

import click
from flask.cli import with_appcontext
from pausa_gate.windows import parse_moment, utcnow

from ..maintenance.audit_view import csv_lines
from ..maintenance.validation import has_unstorable_text
from ..services import audit as audit_service
from .common import SafeGroup, fail


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
    fail(f"audit chain broken at entry {report.broken_id}: {report.problem} "
         f"({report.checked} entries verified before it)")


@audit_cli.command("export")
@click.option("--action", default="", help="Actions starting with this, e.g. maintenance (any case).")
@click.option("--actor", default="", help="Actors starting with this, e.g. cli (any case).")
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
                fail(f"--{name}: use an ISO-8601 date, like 2026-01-31 or 2026-01-31T02:00Z.", code=2)
    for name, raw in (("action", action), ("actor", actor)):
        if has_unstorable_text(raw):
            fail(f"--{name}: contains invalid characters (such as a NUL byte).", code=2)
    filters = audit_service.AuditFilters(action=action.strip(), actor=actor.strip(), **moments)
    for line in csv_lines(audit_service.iter_filtered(filters)):
        sys.stdout.write(line)
