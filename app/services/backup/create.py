"""Taking backups: what is backed up, one consistent snapshot written as an archive, the schedule."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask_babel import gettext
from sqlalchemy import Column, Table, inspect, select, text
from sqlalchemy.engine import Connection

from ...database import bounded
from ...extensions import db
from ...models import utcnow
from ..alerts import operator_language, raise_alert
from .archive import (
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    add_bytes,
    archive_name,
    archive_time,
    encode_datetime,
    member_name,
    row_encoder,
)

log = logging.getLogger("pausa.backup")


# Worker heartbeats describe the processes running now, not data: a restored one would show a
# worker that does not exist. Each worker writes its own row again on its next pass.
TRANSIENT_TABLES = frozenset({"worker_heartbeats"})
# Migrations insert this singleton, so a freshly migrated database holds it and is still "empty".
SEEDED_TABLES = frozenset({"maintenance_state"})


# A backup or a restore of a large trail may take longer than one page's statement bound.
LONG_WAIT_SECONDS = 3600.0
ALERT_KIND = "backup_failed"


# -- what is backed up --------------------------------------------------------------------


def backed_up_tables() -> list[Table]:
    """Every table of the models except the transient ones, parents before children."""
    return [table for table in db.metadata.sorted_tables if table.name not in TRANSIENT_TABLES]


def _ordered_columns(table: Table) -> list[Column[Any]]:
    return list(table.columns)


def _order_by(table: Table) -> list[Column[Any]]:
    return list(table.primary_key.columns) or list(table.columns)


def database_revision(connection: Connection) -> str | None:
    """Return the alembic revision the database is at, or None when it was never migrated."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    revisions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ",".join(sorted(revisions)) or None


# -- create -------------------------------------------------------------------------------


@dataclass
class CreateReport:
    path: Path
    rows: int
    tables: int
    seconds: float


def _snapshot_connection() -> Connection:
    """Open a connection whose one transaction sees a single consistent, read-only snapshot."""
    engine = db.engine
    if engine.dialect.name == "postgresql":
        connection = engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
        return connection
    connection = engine.connect()
    # pysqlite only opens a transaction before a write: open one so every read sees one snapshot.
    connection.exec_driver_sql("BEGIN")
    return connection


def create_backup(output: Path, now: datetime | None = None) -> CreateReport:
    """Write an archive of every table to `output` (through a temporary file and a rename)."""
    started = time.monotonic()
    now = now or utcnow()
    output = Path(output)
    if output.is_dir():
        raise BackupError(f"{output} is a directory: give a file name")
    # The archive holds password and token hashes and signing secrets: only its owner may read it.
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tables = backed_up_tables()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_at": encode_datetime(now),
        "source_dialect": db.engine.dialect.name,
        "tables": {},
    }
    total = 0
    with tempfile.TemporaryDirectory(prefix="pausa-backup-") as scratch, bounded(LONG_WAIT_SECONDS):
        connection = _snapshot_connection()
        try:
            revision = database_revision(connection)
            if revision is None:
                raise BackupError("the database is not migrated: run `flask db upgrade` first")
            manifest["alembic_revision"] = revision
            for table in tables:
                columns = _ordered_columns(table)
                encode = row_encoder(columns)
                digest = hashlib.sha256()
                count = 0
                with open(Path(scratch) / f"{table.name}.jsonl", "wb") as member:
                    result = connection.execute(
                        select(*columns).order_by(*_order_by(table)), execution_options={"yield_per": BATCH}
                    )
                    for row in result:
                        line = (encode(row) + "\n").encode()
                        digest.update(line)
                        member.write(line)
                        count += 1
                manifest["tables"][table.name] = {
                    "columns": [column.name for column in columns],
                    "rows": count,
                    "sha256": digest.hexdigest(),
                    "member": member_name(table.name),
                }
                total += count
        finally:
            connection.rollback()
            connection.close()
        temporary = output.parent / f".{output.name}.{os.getpid()}.tmp"
        try:
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as raw:
                with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as archive:
                    add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode(), now)
                    for table in tables:
                        path = Path(scratch) / f"{table.name}.jsonl"
                        info = archive.gettarinfo(str(path), arcname=member_name(table.name))
                        info.mtime, info.mode = int(now.timestamp()), 0o600
                        info.uid, info.gid, info.uname, info.gname = 0, 0, "", ""
                        with open(path, "rb") as member:
                            archive.addfile(info, member)
                raw.flush()
                os.fsync(raw.fileno())
            os.replace(temporary, output)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    return CreateReport(output, total, len(tables), time.monotonic() - started)


# -- the scheduled backups ------------------------------------------------------------------


def archives(directory: Path) -> list[Path]:
    """Return the archives in `directory`, oldest first (by the time in their names)."""
    if not directory.is_dir():
        return []
    found = [path for path in directory.iterdir() if archive_time(path.name) is not None and path.is_file()]
    return sorted(found, key=lambda path: path.name)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` archives; return the deleted ones."""
    found = archives(directory)
    doomed = found[:-keep] if keep > 0 else found
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


@dataclass
class ScheduledReport:
    created: CreateReport | None
    deleted: list[Path]


def scheduled_backup(
    directory: Path, every_hours: float, keep: int, now: datetime | None = None
) -> ScheduledReport:
    """Take a backup unless the newest in `directory` is recent enough, then keep the newest `keep`.

    The decision is the archives' names alone, so several workers, or a worker restarted,
    never stack up backups. A failure is logged and alerted once per streak of failures (the
    alert's cause names the newest good archive, which only a success changes), then re-raised.
    """
    now = now or utcnow()
    found = archives(directory)
    newest = archive_time(found[-1].name) if found else None
    created = None
    if newest is None or now - newest >= timedelta(hours=every_hours):
        try:
            created = create_backup(directory / archive_name(now), now)
        except Exception as error:
            db.session.rollback()
            log.exception("scheduled backup into %s failed", directory)
            _alert_failure(directory, found[-1].name if found else "none", error)
            raise
        log.info("backup written to %s: %d rows in %.1f s", created.path, created.rows, created.seconds)
    return ScheduledReport(created, prune(directory, keep))


def _alert_failure(directory: Path, newest: str, error: Exception) -> None:
    reason = (str(error).splitlines() or [type(error).__name__])[0][:300]
    try:
        with operator_language():
            summary = gettext(
                "The scheduled backup into %(directory)s failed: %(reason)s "
                "(newest good backup: %(newest)s).",
                directory=str(directory), reason=reason, newest=newest,
            )
        raise_alert(f"{ALERT_KIND}:{directory}:{newest}"[:200], ALERT_KIND, summary)
    except Exception:  # the database may be why the backup failed: the log has it
        db.session.rollback()
        log.exception("could not raise the admin alert for the failed backup")
