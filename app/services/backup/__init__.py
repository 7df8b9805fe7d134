"""Back up Pausa's own data to a portable, verifiable archive, and restore it (docs/backup.md).

An archive is a .tar.gz holding `manifest.json` first, then one JSON-lines member per table
(`tables/<name>.jsonl`, one JSON array of column values per row, in primary-key order). Values
are encoded so that either database reads them back identically: datetimes as ISO-8601 UTC with
microseconds, JSON columns as JSON, booleans as booleans, bytes as base64. The manifest names the
format version, the alembic revision of the database it came from, and per table its columns,
row count and the SHA-256 of its member.

Modules: `archive` (the format: encoding, names, the manifest, checksums, verifying; no app),
`create` (what is backed up, taking a backup, the schedule) and `restore`. Every public name
is re-exported here, so `from app.services import backup` keeps working.
"""

from .archive import (
    ARCHIVE_ERRORS,
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    NAME_PATTERN,
    NAME_TIME_FORMAT,
    BackupError,
    archive_name,
    archive_time,
    encode_datetime,
    member_name,
    read_manifest,
    row_decoder,
    row_encoder,
    verify_archive,
)
from .create import (
    ALERT_KIND,
    LONG_WAIT_SECONDS,
    SEEDED_TABLES,
    TRANSIENT_TABLES,
    CreateReport,
    ScheduledReport,
    archives,
    backed_up_tables,
    create_backup,
    database_revision,
    prune,
    scheduled_backup,
)
from .restore import RestoreReport, restore_backup

__all__ = [
    "ALERT_KIND",
    "ARCHIVE_ERRORS",
    "BATCH",
    "FORMAT",
    "FORMAT_VERSION",
    "LONG_WAIT_SECONDS",
    "MANIFEST",
    "NAME_PATTERN",
    "NAME_TIME_FORMAT",
    "SEEDED_TABLES",
    "TRANSIENT_TABLES",
    "BackupError",
    "CreateReport",
    "RestoreReport",
    "ScheduledReport",
    "archive_name",
    "archive_time",
    "archives",
    "backed_up_tables",
    "create_backup",
    "database_revision",
    "encode_datetime",
    "member_name",
    "prune",
    "read_manifest",
    "restore_backup",
    "row_decoder",
    "row_encoder",
    "scheduled_backup",
    "verify_archive",
]
