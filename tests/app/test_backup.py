"""Backups of Pausa's own data (docs/backup.md): create, verify, restore and the worker's schedule (SQLite).

Moving between SQLite and PostgreSQL is in tests/servers/test_backup_postgres.py.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.models import AdminAlert, AuditEntry
from app.services import backup as backup_service
from tests.support.backup_data import populate

_TEMPLATE: dict[str, Path] = {}

# The newest migration: a backup records the revision of the database it was taken from.
HEAD = ScriptDirectory(str(Path(__file__).resolve().parents[2] / "migrations")).get_current_head()


def table_rows(app) -> dict[str, list[dict]]:
    """Every backed-up table's rows, as Python values, in primary-key order."""
    with app.app_context():
        rows = {}
        for table in backup_service.backed_up_tables():
            order = list(table.primary_key.columns)
            rows[table.name] = [dict(row._mapping) for row in db.session.execute(table.select().order_by(*order))]
        db.session.remove()
        return rows


def migrated_app(directory: Path, name: str, **overrides):
    """Return an app on a fresh SQLite database migrated with the real migrations (copied from a template)."""
    if "template" not in _TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="pausa-backup-template-")) / "migrated.db"
        seeded = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{template}"})
        with seeded.app_context():
            upgrade()
            db.session.remove()
            db.engine.dispose()
        _TEMPLATE["template"] = template
    target = directory / f"{name}.db"
    shutil.copyfile(_TEMPLATE["template"], target)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}", **overrides})
    _OPEN.append(app)
    return app


_OPEN: list = []


@pytest.fixture(autouse=True)
def _close_apps():
    yield
    while _OPEN:
        with _OPEN.pop().app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A backup of a populated SQLite database, and that database's rows."""
    directory = tmp_path_factory.mktemp("source")
    source = migrated_app(directory, "source")
    populate(source)
    path = directory / "backup.tar.gz"
    result = source.test_cli_runner().invoke(args=["backup", "create", "--output", str(path)])
    assert result.exit_code == 0, result.output
    rows = table_rows(source)
    with source.app_context():
        db.session.remove()
        db.engine.dispose()
    return path, rows, result.output


def cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_source_has_rows_in_every_backed_up_table(archive):
    _, rows, _ = archive
    # Every model's table but the workers' heartbeats (they describe running processes, not data).
    assert sorted(rows) == sorted(set(db.metadata.tables) - {"worker_heartbeats"})
    assert [name for name, table in rows.items() if not table] == []


def test_create_prints_the_path_rows_and_seconds_and_writes_the_manifest(archive):
    path, rows, output = archive
    total = sum(len(table) for table in rows.values())
    assert f"Backup written to {path}: {total} rows from {len(rows)} tables in " in output
    with tarfile.open(path, "r:gz") as opened:
        names = opened.getnames()
        manifest = json.loads(opened.extractfile("manifest.json").read())
    assert names[0] == "manifest.json"
    assert sorted(names[1:]) == sorted(f"tables/{name}.jsonl" for name in rows)
    assert manifest["format"] == "pausa-backup" and manifest["format_version"] == 1
    assert manifest["alembic_revision"] == HEAD and manifest["source_dialect"] == "sqlite"
    assert datetime.fromisoformat(manifest["created_at"]).tzinfo is not None
    assert {name: entry["rows"] for name, entry in manifest["tables"].items()} == {
        name: len(table) for name, table in rows.items()
    }
    assert manifest["tables"]["users"]["columns"][:2] == ["id", "email"]


def test_values_are_encoded_portably(archive):
    path, _, _ = archive
    with tarfile.open(path, "r:gz") as opened:
        manifest = json.loads(opened.extractfile("manifest.json").read())
        windows = [json.loads(line) for line in opened.extractfile("tables/maintenance_windows.jsonl")]
    columns = manifest["tables"]["maintenance_windows"]["columns"]
    active = next(dict(zip(columns, row, strict=True)) for row in windows if row[columns.index("reason")] == "deployment")
    assert active["messages"] == {"pt-BR": "Implantando a v2"}  # JSON as JSON, not a string
    assert active["allowed_ips"] == ["10.0.0.0/8"]
    assert active["pause_webhook_processing"] is False
    # ISO-8601 with microseconds, in UTC, even when the microseconds are zero.
    assert len(active["created_at"]) == len("2026-01-01T00:00:00.000000+00:00")
    assert active["created_at"].endswith("+00:00")


def test_a_round_trip_restores_every_row_and_the_audit_chain(archive, tmp_path):
    path, rows, _ = archive
    target = migrated_app(tmp_path, "target")
    result = cli(target, "backup", "restore", str(path))
    assert result.exit_code == 0, result.output
    for name, table in rows.items():
        assert f"  {name}: {len(table)} rows (manifest {len(table)}) OK" in result.output
    restored = table_rows(target)
    state_before, state_after = rows.pop("maintenance_state"), restored.pop("maintenance_state")
    assert state_after[0]["version"] > state_before[0]["version"]  # every gate reloads
    audit_after = restored.pop("audit_entries")
    assert audit_after[:-1] == rows.pop("audit_entries")
    assert restored == rows
    last = audit_after[-1]
    assert last["action"] == "backup.restored" and last["actor"] == "cli:tester"
    assert last["details"]["file"] == path.name and last["details"]["counts"]["users"] == 2
    verified = cli(target, "audit", "verify")
    assert verified.exit_code == 0 and f"({len(audit_after)} entries)" in verified.output
    # New rows get fresh ids after the restored ones.
    assert cli(target, "tokens", "create", "after-restore").exit_code == 0


def test_verify_passes_a_good_archive(archive):
    path, _, _ = archive
    result = cli(create_app(), "backup", "verify", str(path))
    assert result.exit_code == 0 and "Backup OK" in result.output


def rewrite(source: Path, target: Path, change) -> Path:
    """Copy an archive, letting `change(name, data, manifest)` return each member's new bytes."""
    with tarfile.open(source, "r:gz") as opened:
        members = [(member.name, opened.extractfile(member).read()) for member in opened.getmembers()]
    manifest = json.loads(dict(members)["manifest.json"])
    with tarfile.open(target, "w:gz") as written:
        for name, data in members:
            data = change(name, data, manifest)
            if name == "manifest.json":
                data = json.dumps(manifest).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            written.addfile(info, io.BytesIO(data))
    return target


def _tamper_row(name, data, manifest):
    return data.replace(b"Deploying v2", b"Deploying v3") if name.endswith("maintenance_windows.jsonl") else data


def _wrong_checksum(name, data, manifest):
    manifest["tables"]["users"]["sha256"] = "0" * 64
    return data


def _wrong_count(name, data, manifest):
    manifest["tables"]["api_tokens"]["rows"] = 5
    return data


def _dropped_member(name, data, manifest):
    return data if not name.endswith("users.jsonl") else b""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_tamper_row, "maintenance_windows: checksum mismatch"),
        (_wrong_checksum, "users: checksum mismatch"),
        (_wrong_count, "api_tokens: 1 rows, the manifest says 5"),
        (_dropped_member, "users: checksum mismatch"),
    ],
)
def test_verify_names_each_problem_and_restore_refuses(archive, tmp_path, change, problem):
    path, _, _ = archive
    broken = rewrite(path, tmp_path / "broken.tar.gz", change)
    result = cli(create_app(), "backup", "verify", str(broken))
    assert result.exit_code == 1
    assert f"Problem: {problem}" in result.output
    target = migrated_app(tmp_path, "target")
    before = table_rows(target)
    refused = cli(target, "backup", "restore", str(broken))
    assert refused.exit_code == 1 and problem in refused.output and "Nothing was changed" in refused.output
    assert table_rows(target) == before


def test_verify_and_restore_refuse_a_truncated_archive(archive, tmp_path):
    path, _, _ = archive
    data = path.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    result = cli(create_app(), "backup", "verify", str(truncated))
    assert result.exit_code == 1 and "the archive cannot be read" in result.output
    assert len(result.output.strip().splitlines()) == 1
    target = migrated_app(tmp_path, "target")
    before = table_rows(target)
    refused = cli(target, "backup", "restore", str(truncated))
    assert refused.exit_code == 1 and "cannot be read" in refused.output
    assert table_rows(target) == before


def test_verify_refuses_a_file_that_is_not_a_backup(tmp_path):
    plain = tmp_path / "notes.tar.gz"
    plain.write_bytes(gzip.compress(b"hello"))
    result = cli(create_app(), "backup", "verify", str(plain))
    assert result.exit_code == 1 and "Problem:" in result.output


def test_restore_refuses_a_database_that_is_not_empty_unless_forced(archive, tmp_path):
    path, rows, _ = archive
    target = migrated_app(tmp_path, "target")
    assert cli(target, "tokens", "create", "kept-unless-forced").exit_code == 0
    before = table_rows(target)
    refused = cli(target, "backup", "restore", str(path))
    assert refused.exit_code == 1
    assert "the database is not empty (api_tokens 1, audit_entries 1)" in refused.output
    assert "--force" in refused.output
    assert table_rows(target) == before
    forced = cli(target, "backup", "restore", str(path), "--force")
    assert forced.exit_code == 0, forced.output
    restored = table_rows(target)
    assert [token["name"] for token in restored["api_tokens"]] == [token["name"] for token in rows["api_tokens"]]
    assert restored["users"] == rows["users"]
    assert restored["audit_entries"][-1]["details"]["replaced"] is True
    assert cli(target, "audit", "verify").exit_code == 0


def test_restore_refuses_a_database_at_another_revision(archive, tmp_path):
    path, _, _ = archive
    target = migrated_app(tmp_path, "target")
    with target.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0012'"))
        db.session.commit()
    result = cli(target, "backup", "restore", str(path))
    assert result.exit_code == 1
    assert f"backup is from revision {HEAD}, database is at 0012" in result.output


def test_restore_refuses_a_database_that_was_never_migrated(archive, tmp_path):
    path, _, _ = archive
    target = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'bare.db'}"})
    _OPEN.append(target)
    with target.app_context():
        db.create_all()
    result = cli(target, "backup", "restore", str(path))
    assert result.exit_code == 1 and "run `flask db upgrade`" in result.output


def damaged_last_member(path: Path, target: Path) -> Path:
    """Copy an archive with its last member's first row made unreadable, its checksum kept right."""
    with tarfile.open(path, "r:gz") as opened:
        last = opened.getnames()[-1]

    def damage(name, data, manifest):
        if name != last:
            return data
        broken = data.replace(b'"', b"'", 1)
        table = name.removeprefix("tables/").removesuffix(".jsonl")
        manifest["tables"][table]["sha256"] = hashlib.sha256(broken).hexdigest()
        return broken

    return rewrite(path, target, damage)


def test_a_restore_that_fails_half_way_leaves_the_database_as_it_was(archive, tmp_path):
    """The last member is damaged: every table emptied and filled before it is rolled back too."""
    path, _, _ = archive
    broken = damaged_last_member(path, tmp_path / "broken.tar.gz")
    target = migrated_app(tmp_path, "target")
    assert cli(target, "tokens", "create", "survivor").exit_code == 0
    before = table_rows(target)
    result = cli(target, "backup", "restore", str(broken), "--force")
    assert result.exit_code == 1 and "cannot be read" in result.output
    assert table_rows(target) == before


def test_create_writes_through_a_temporary_file_and_names_by_time(tmp_path, monkeypatch):
    app = migrated_app(tmp_path, "db", BACKUP_DIR=str(tmp_path / "backups"))
    result = cli(app, "backup", "create")
    assert result.exit_code == 0, result.output
    written = list((tmp_path / "backups").iterdir())
    assert len(written) == 1 and backup_service.archive_time(written[0].name) is not None
    # A failing write leaves no archive under the final name, and no temporary file either.
    target = tmp_path / "backups" / "failed.tar.gz"
    monkeypatch.setattr(tarfile.TarFile, "addfile", _disk_full)
    failed = cli(app, "backup", "create", "--output", str(target))
    assert failed.exit_code == 1 and "No space left" in failed.output
    assert sorted(path.name for path in (tmp_path / "backups").iterdir()) == [written[0].name]


def _disk_full(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_create_refuses_a_database_that_was_never_migrated(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'bare.db'}"})
    _OPEN.append(app)
    with app.app_context():
        db.create_all()
    result = cli(app, "backup", "create", "--output", str(tmp_path / "x.tar.gz"))
    assert result.exit_code == 1 and "run `flask db upgrade`" in result.output
    assert not (tmp_path / "x.tar.gz").exists()


# -- the worker's schedule --------------------------------------------------------------------


def run_task(app):
    from app.tasks import take_scheduled_backup
    from app.worker import TaskContext

    lines: list[str] = []
    with app.app_context():
        take_scheduled_backup(TaskContext(app, "test", "take-scheduled-backup", lines.append, None))
    return lines


def test_the_worker_takes_a_backup_only_when_the_newest_is_old_and_keeps_the_newest_n(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    now = datetime.now(UTC)
    # Older archives (contents irrelevant to the schedule), and a file that is not ours.
    for hours in (30, 50, 70, 90):
        (backups / backup_service.archive_name(now - timedelta(hours=hours))).write_bytes(b"old")
    (backups / "notes.txt").write_text("keep me")
    app = migrated_app(tmp_path, "db", BACKUP_DIR=str(backups), BACKUP_EVERY_HOURS=24, BACKUP_KEEP=3)
    lines = run_task(app)
    assert any(line.startswith("backup written to") for line in lines)
    names = sorted(path.name for path in backups.iterdir())
    assert len([name for name in names if name.startswith("pausa-backup-")]) == 3 and "notes.txt" in names
    newest = sorted(backups.glob("pausa-backup-*.tar.gz"))[-1]
    assert backup_service.verify_archive(newest) == []
    # A second worker (or a restart) finds a recent archive and takes none.
    assert run_task(app) == []
    assert len(list(backups.glob("pausa-backup-*.tar.gz"))) == 3


def test_the_worker_does_nothing_without_backup_dir(tmp_path):
    app = migrated_app(tmp_path, "db")
    assert run_task(app) == []
    assert list(tmp_path.glob("**/pausa-backup-*")) == []


def test_a_failing_scheduled_backup_alerts_once_per_streak(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    app = migrated_app(tmp_path, "db", BACKUP_DIR=str(blocked / "backups"))
    for _ in range(3):
        with pytest.raises(OSError):
            run_task(app)
    with app.app_context():
        alerts = db.session.scalars(select(AdminAlert).where(AdminAlert.kind == "backup_failed")).all()
        assert len(alerts) == 1 and "failed" in alerts[0].summary
        assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "alert.raised"


def test_only_the_owner_can_read_an_archive_or_a_new_backup_directory(tmp_path):
    app = migrated_app(tmp_path, "source")
    directory = tmp_path / "new" / "backups"
    result = cli(app, "backup", "create", "--output", str(directory / "pausa.tar.gz"))
    assert result.exit_code == 0, result.output
    assert (directory / "pausa.tar.gz").stat().st_mode & 0o077 == 0  # hashes and signing secrets inside
    assert directory.stat().st_mode & 0o077 == 0
