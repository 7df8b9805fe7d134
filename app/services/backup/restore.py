"""Restoring an archive: check it against this Pausa, replace every table in one transaction, audit."""

from __future__ import annotations

import hashlib
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausa_gate.state import Actor
from sqlalchemy import Column, Table, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from ...database import bounded
from ...extensions import db
from ...gate.notifier import mark_state_changed
from ...models import MaintenanceState, utcnow
from .. import audit
from .archive import ARCHIVE_ERRORS, BATCH, BackupError, hashed_lines, read_manifest, row_decoder
from .create import LONG_WAIT_SECONDS, SEEDED_TABLES, backed_up_tables, database_revision


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    replaced: bool = False
    seconds: float = 0.0


def _check_tables(manifest: dict[str, Any], tables: list[Table]) -> None:
    expected = {table.name: [column.name for column in table.columns] for table in tables}
    listed = manifest["tables"]
    if set(listed) != set(expected):
        missing = sorted(set(expected) - set(listed))
        extra = sorted(set(listed) - set(expected))
        raise BackupError(
            f"the backup's tables do not match this Pausa's (missing: {', '.join(missing) or 'none'}; "
            f"unknown: {', '.join(extra) or 'none'})"
        )
    for name, columns in expected.items():
        if sorted(listed[name]["columns"]) != sorted(columns):
            raise BackupError(f"table {name}: the backup's columns do not match this Pausa's")


def _row_counts(tables: list[Table]) -> dict[str, int]:
    return {table.name: db.session.scalar(select(func.count()).select_from(table)) or 0 for table in tables}


def _wipe(tables: list[Table], dialect: str) -> None:
    """Empty every backed-up table inside the restore's transaction."""
    if dialect == "postgresql":
        # TRUNCATE is transactional here and is not covered by the audit append-only trigger
        # (which refuses UPDATE and DELETE row by row): a rollback brings every row back.
        names = ", ".join(f'"{table.name}"' for table in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        return
    for table in reversed(tables):
        db.session.execute(table.delete())


def _insert_member(archive: tarfile.TarFile, table: Table, entry: dict[str, Any]) -> int:
    """Insert one member's rows in batches, checking its checksum and count; return the count."""
    handle = archive.extractfile(entry["member"])
    if handle is None:
        raise BackupError(f"{table.name}: member {entry['member']} is missing")
    columns = [table.c[name] for name in entry["columns"]]
    decode = row_decoder(columns)
    digest = hashlib.sha256()
    write = _copier(table, columns) if db.session.get_bind().dialect.name == "postgresql" else None
    statement = table.insert()
    batch: list[dict[str, Any]] = []
    count = 0
    for line in hashed_lines(handle, digest):
        try:
            batch.append(decode(line.decode()))
        except ValueError as error:
            raise BackupError(f"{table.name}: row {count + len(batch) + 1} cannot be read: {error}") from None
        if len(batch) >= BATCH:
            write(batch) if write is not None else db.session.execute(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        write(batch) if write is not None else db.session.execute(statement, batch)
        count += len(batch)
    if digest.hexdigest() != entry["sha256"]:
        raise BackupError(f"{table.name}: checksum mismatch (the member was changed or damaged)")
    if count != entry["rows"]:
        raise BackupError(f"{table.name}: {count} rows, the manifest says {entry['rows']}")
    return count


def _copier(table: Table, columns: list[Column[Any]]) -> Callable[[list[dict[str, Any]]], None]:
    """Return a function writing rows with PostgreSQL's COPY, on the session's connection and transaction.

    Values go through each column type's own bind conversion (UTC datetimes to naive, JSON to
    psycopg's Json), exactly as an INSERT would send them; COPY is several times faster.
    """
    connection = db.session.connection()
    dialect = connection.dialect
    processors = [column.type.dialect_impl(dialect).bind_processor(dialect) for column in columns]
    names = [column.name for column in columns]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    command = f"COPY {dialect.identifier_preparer.quote(table.name)} ({quoted}) FROM STDIN"
    driver = connection.connection.driver_connection

    def write(rows: list[dict[str, Any]]) -> None:
        with driver.cursor() as cursor, cursor.copy(command) as copy:
            for row in rows:
                copy.write_row([
                    value if value is None or processor is None else processor(value)
                    for value, processor in zip((row[name] for name in names), processors, strict=True)
                ])

    return write


def _reset_sequences(tables: list[Table]) -> None:
    """Move each PostgreSQL id sequence past the restored ids, so new rows get fresh ones."""
    for table in tables:
        if "id" not in table.c or not table.c.id.primary_key or not table.c.id.autoincrement:
            continue
        top = func.coalesce(select(func.max(table.c.id)).scalar_subquery(), 0)
        db.session.execute(select(func.setval(func.pg_get_serial_sequence(table.name, "id"), top + 1, False)))


def restore_backup(path: Path, actor: Actor, force: bool = False) -> RestoreReport:
    """Replace the database's data with the archive's, in one transaction, and audit it."""
    started = time.monotonic()
    path = Path(path)
    try:
        with tarfile.open(path, "r:gz") as archive, bounded(LONG_WAIT_SECONDS):
            report = _restore_from(archive, path, actor, force)
    except BackupError:
        db.session.rollback()
        raise
    except ARCHIVE_ERRORS as error:
        db.session.rollback()
        raise BackupError(f"the archive cannot be read (truncated or damaged?): {error}") from None
    except SQLAlchemyError:
        db.session.rollback()
        raise
    report.seconds = time.monotonic() - started
    return report


def _restore_from(archive: tarfile.TarFile, path: Path, actor: Actor, force: bool) -> RestoreReport:
    """Check, wipe, insert, check the counts, move the state version, audit and commit."""
    tables = backed_up_tables()
    session = db.session
    dialect = session.get_bind().dialect.name
    manifest = read_manifest(archive)
    _check_tables(manifest, tables)
    revision = database_revision(session.connection())
    if revision is None:
        raise BackupError("the database is not migrated: run `flask db upgrade` first")
    if revision != manifest.get("alembic_revision"):
        raise BackupError(
            f"backup is from revision {manifest.get('alembic_revision')}, database is at {revision}: "
            "restore into a database migrated to the backup's revision "
            "(`flask db upgrade <revision>`), or upgrade the backup's source first"
        )
    if dialect == "postgresql":
        session.execute(text("SET LOCAL statement_timeout = 0"))
        # Nothing may write between the emptiness check and the TRUNCATE (rows would be lost), and no
        # audit entry may chain onto a trail being replaced: the chain's lock first, as appenders take it.
        audit.lock_chain()
        quote = session.get_bind().dialect.identifier_preparer.quote
        names = ", ".join(quote(table.name) for table in tables)
        session.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    else:
        # Take the write lock now, so nothing writes between the emptiness check and the insert.
        session.commit()
        session.execute(text("BEGIN IMMEDIATE"))
        session.execute(text("PRAGMA defer_foreign_keys = ON"))
    before = _row_counts(tables)
    occupied = {name: count for name, count in before.items() if count and name not in SEEDED_TABLES}
    if occupied and not force:
        listing = ", ".join(f"{name} {count}" for name, count in occupied.items())
        raise BackupError(
            f"the database is not empty ({listing}): restore into an empty database, "
            "or pass --force to replace everything in it"
        )
    previous_version = session.scalar(select(func.max(MaintenanceState.version))) or 0
    _wipe(tables, dialect)
    for table in tables:
        _insert_member(archive, table, manifest["tables"][table.name])
    if dialect == "postgresql":
        _reset_sequences(tables)
    report = RestoreReport(manifest, counts=_row_counts(tables), replaced=bool(occupied))
    wrong = [
        f"{name} {count} (manifest {manifest['tables'][name]['rows']})"
        for name, count in report.counts.items() if count != manifest["tables"][name]["rows"]
    ]
    if wrong:
        raise BackupError(f"restored counts differ from the manifest: {', '.join(wrong)}")
    _supersede_state(previous_version)
    audit.record(
        "backup.restored",
        actor,
        f"backup:{path.name}"[:128],
        {
            "file": path.name,
            "created_at": manifest.get("created_at"),
            "source_dialect": manifest.get("source_dialect"),
            "revision": manifest.get("alembic_revision"),
            "replaced": report.replaced,
            "counts": report.counts,
        },
    )
    session.commit()
    return report


def _supersede_state(previous_version: int) -> None:
    """Move the state version past both the restored and the replaced one, so every gate reloads."""
    state = db.session.get(MaintenanceState, 1)
    if state is None:
        state = MaintenanceState(id=1, version=0)
        db.session.add(state)
    state.version = max(state.version or 0, previous_version) + 1
    state.updated_at = utcnow()
    mark_state_changed(db.session())
