"""The archive format (docs/backup.md): values, names, the manifest, checksums; no app, no database."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Boolean, Column, DateTime, LargeBinary

from .. import ServiceError

FORMAT = "pausa-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
NAME_PATTERN = re.compile(r"^pausa-backup-(\d{8}T\d{6}Z)\.tar\.gz$")
NAME_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


BATCH = 5000  # rows read or written at a time


_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


class BackupError(ServiceError):
    """The archive or the database does not allow the operation; nothing was changed."""


def encode_datetime(value: datetime) -> str:
    """Write a datetime as ISO-8601 with microseconds, in UTC when it carries a zone."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")


def _encoder(column: Column[Any]) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        return encode_datetime
    if isinstance(kind, LargeBinary):
        return lambda value: base64.b64encode(value).decode("ascii")
    if isinstance(kind, Boolean):
        return bool
    return None  # JSON, text, numbers: already portable JSON values


def _decoder(column: Column[Any]) -> Callable[[Any], Any] | None:
    kind = column.type
    if isinstance(kind, DateTime) or isinstance(getattr(kind, "impl", None), DateTime):
        return datetime.fromisoformat
    if isinstance(kind, LargeBinary):
        return base64.b64decode
    if isinstance(kind, Boolean):
        return bool
    return None


def row_encoder(columns: list[Column[Any]]) -> Callable[[Any], str]:
    """Return a function encoding one row (values in `columns` order) as a JSON array line."""
    encoders = [(index, encoder) for index, column in enumerate(columns)
                if (encoder := _encoder(column)) is not None]

    def encode(row: Any) -> str:
        values = list(row)
        for index, encoder in encoders:
            if values[index] is not None:
                values[index] = encoder(values[index])
        return _JSON.encode(values)

    return encode


def row_decoder(columns: list[Column[Any]]) -> Callable[[str], dict[str, Any]]:
    """Return a function turning one JSON-lines row back into insertable values."""
    names = [column.name for column in columns]
    decoders = [(index, decoder) for index, column in enumerate(columns)
                if (decoder := _decoder(column)) is not None]

    def decode(line: str) -> dict[str, Any]:
        values = json.loads(line)
        if not isinstance(values, list) or len(values) != len(names):
            raise ValueError("a row does not have the manifest's columns")
        for index, decoder in decoders:
            if values[index] is not None:
                values[index] = decoder(values[index])
        return dict(zip(names, values, strict=True))

    return decode


def archive_name(moment: datetime) -> str:
    """Name an archive after the moment it was taken (sorting by name sorts by time)."""
    return f"pausa-backup-{moment.astimezone(UTC).strftime(NAME_TIME_FORMAT)}.tar.gz"


def archive_time(name: str) -> datetime | None:
    """Read the moment back from an archive's name; None when it is not one of ours."""
    match = NAME_PATTERN.match(name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), NAME_TIME_FORMAT).replace(tzinfo=UTC)


def member_name(table: str) -> str:
    return f"tables/{table}.jsonl"


ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError)


def read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    """Read and check the manifest's shape; raise BackupError naming what is wrong."""
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        manifest = json.loads(handle.read()) if handle is not None else None
    except KeyError:
        raise BackupError("the archive has no manifest.json: not a Pausa backup") from None
    except ValueError as error:
        raise BackupError(f"manifest.json is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("manifest.json is not a Pausa backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"backup format version {manifest.get('format_version')!r} is not supported "
            f"(this Pausa reads version {FORMAT_VERSION})"
        )
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        raise BackupError("manifest.json lists no tables")
    for name, entry in tables.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("columns"), list)
            and isinstance(entry.get("rows"), int)
            and isinstance(entry.get("sha256"), str)
            and entry.get("member") == member_name(name)
        ):
            raise BackupError(f"manifest.json: the entry of table {name} is incomplete")
    return manifest


def hashed_lines(handle: IO[bytes], digest: Any) -> Iterator[bytes]:
    for line in handle:
        digest.update(line)
        yield line


def verify_archive(path: Path) -> list[str]:
    """Check the archive opens, its manifest, every member's checksum and row count; list the problems."""
    problems: list[str] = []
    try:
        with tarfile.open(path, "r:gz") as archive:
            manifest = read_manifest(archive)
            listed = {entry["member"] for entry in manifest["tables"].values()}
            for member in archive.getmembers():
                if member.name != MANIFEST and member.name not in listed:
                    problems.append(f"{member.name}: not listed in the manifest")
            for name, entry in manifest["tables"].items():
                try:
                    handle = archive.extractfile(entry["member"])
                except KeyError:
                    problems.append(f"{name}: member {entry['member']} is missing")
                    continue
                if handle is None:
                    problems.append(f"{name}: member {entry['member']} is not a file")
                    continue
                digest = hashlib.sha256()
                count, bad = 0, 0
                width = len(entry["columns"])
                for line in hashed_lines(handle, digest):
                    count += 1
                    try:
                        values = json.loads(line)
                    except ValueError:
                        values = None
                    if not isinstance(values, list) or len(values) != width:
                        bad += 1
                if digest.hexdigest() != entry["sha256"]:
                    problems.append(f"{name}: checksum mismatch (the member was changed or damaged)")
                if count != entry["rows"]:
                    problems.append(f"{name}: {count} rows, the manifest says {entry['rows']}")
                if bad:
                    problems.append(f"{name}: {bad} row(s) are not JSON arrays of {width} values")
    except BackupError as error:
        problems.append(error.message)
    except ARCHIVE_ERRORS as error:
        problems.append(f"the archive cannot be read (truncated or not a .tar.gz?): {error}")
    return problems


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes, now: datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
    archive.addfile(info, io.BytesIO(data))
