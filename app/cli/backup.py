"""`flask backup`: write, verify and restore a portable archive of Pausa's data (docs/backup.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from pausa_gate.windows import utcnow

from ..services import backup as backup_service
from .common import SafeGroup, cli_actor, fail


@click.group("backup", cls=SafeGroup)
def backup_cli() -> None:
    """Back up Pausa's own data to a portable archive, verify one, restore one (docs/backup.md)."""


@backup_cli.command("create")
@click.option("--output", type=click.Path(dir_okay=False), help="Archive to write (default: "
              "pausa-backup-<UTC time>.tar.gz in BACKUP_DIR, or in the current directory).")
@with_appcontext
def backup_create(output: str | None) -> None:
    """Write a consistent, compressed archive of every table (one read-only snapshot)."""
    now = utcnow()
    target = Path(output) if output else (
        Path(current_app.config["BACKUP_DIR"] or ".") / backup_service.archive_name(now)
    )
    try:
        report = backup_service.create_backup(target, now)
    except backup_service.BackupError as error:
        fail(error.message)
    except OSError as error:
        fail(f"cannot write {target}: {error.strerror or error}")
    click.echo(f"Backup written to {report.path}: {report.rows} rows from {report.tables} tables "
               f"in {report.seconds:.1f} s.")


@backup_cli.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@with_appcontext
def backup_verify(file: str) -> None:
    """Check the archive opens, its manifest, every checksum and row count; exit 1 on any problem."""
    problems = backup_service.verify_archive(Path(file))
    for problem in problems:
        click.echo(f"Problem: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"Backup OK: {file}")


@backup_cli.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace everything in a database that is not empty.")
@with_appcontext
def backup_restore(file: str, force: bool) -> None:
    """Restore an archive into an empty database at the backup's revision, in one transaction."""
    try:
        report = backup_service.restore_backup(Path(file), cli_actor(), force=force)
    except backup_service.BackupError as error:
        fail(f"{error.message}. Nothing was changed.")
    manifest = report.manifest
    click.echo(f"Restored {file} (taken {manifest['created_at']} on {manifest['source_dialect']}, "
               f"revision {manifest['alembic_revision']}) in {report.seconds:.1f} s:")
    for name, count in report.counts.items():
        click.echo(f"  {name}: {count} rows (manifest {manifest['tables'][name]['rows']}) OK")
    click.echo("Every count matches the manifest; `backup.restored` was appended to the audit trail.")
