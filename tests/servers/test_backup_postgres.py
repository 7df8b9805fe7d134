"""Backups move between SQLite and PostgreSQL (docs/backup.md): every row, and the audit chain, come back.

Each test makes fresh PostgreSQL databases, migrated with the real migrations, and drops them.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

from app.extensions import db
from tests.app.test_backup import (  # noqa: F401 (_close_apps is an autouse fixture)
    _close_apps,
    cli,
    damaged_last_member,
    migrated_app,
    table_rows,
)
from tests.support.apps import new_postgres_database_app
from tests.support.backup_data import populate


@contextmanager
def fresh_postgres(postgres_url: str, purpose: str):
    """Yield an app on a new PostgreSQL database migrated to head; drop the database afterwards."""
    with new_postgres_database_app(postgres_url, f"backup_{purpose}") as app:
        with app.app_context():
            upgrade()
        yield app


def assert_same_data(source_rows: dict, target, archive_name: str) -> None:
    restored = table_rows(target)
    assert restored.pop("maintenance_state")[0]["version"] > source_rows.pop("maintenance_state")[0]["version"]
    audit = restored.pop("audit_entries")
    assert audit[:-1] == source_rows.pop("audit_entries")
    assert audit[-1]["action"] == "backup.restored" and audit[-1]["details"]["file"] == archive_name
    assert restored == source_rows
    verified = cli(target, "audit", "verify")
    assert verified.exit_code == 0 and f"Audit chain OK ({len(audit)} entries)" in verified.output


def test_sqlite_to_postgresql(postgres_url, tmp_path):
    source = migrated_app(tmp_path, "laptop")
    populate(source)
    archive = tmp_path / "laptop.tar.gz"
    assert cli(source, "backup", "create", "--output", str(archive)).exit_code == 0
    rows = table_rows(source)
    with fresh_postgres(postgres_url, "target") as target:
        result = cli(target, "backup", "restore", str(archive))
        assert result.exit_code == 0, result.output
        for name, table in rows.items():
            assert f"  {name}: {len(table)} rows (manifest {len(table)}) OK" in result.output
        assert_same_data(rows, target, archive.name)
        # The sequences moved past the restored ids: new rows of every kind get fresh ones.
        assert cli(target, "tokens", "create", "after-restore").exit_code == 0
        assert cli(target, "maintenance", "on", "--message", "after").exit_code == 0
        assert cli(target, "audit", "verify").exit_code == 0


def test_postgresql_to_sqlite_and_a_forced_restore_over_the_audit_trigger(postgres_url, tmp_path):
    with fresh_postgres(postgres_url, "source") as source:
        populate(source)
        archive = tmp_path / "production.tar.gz"
        created = cli(source, "backup", "create", "--output", str(archive))
        assert created.exit_code == 0, created.output
        rows = table_rows(source)
        target = migrated_app(tmp_path, "laptop")
        result = cli(target, "backup", "restore", str(archive))
        assert result.exit_code == 0, result.output
        assert_same_data(dict(rows), target, archive.name)
        # Back onto the PostgreSQL source itself: not empty, so only with --force, past the
        # append-only trigger on audit_entries (TRUNCATE, inside the one transaction).
        refused = cli(source, "backup", "restore", str(archive))
        assert refused.exit_code == 1 and "not empty" in refused.output
        forced = cli(source, "backup", "restore", str(archive), "--force")
        assert forced.exit_code == 0, forced.output
        assert_same_data(dict(rows), source, archive.name)
        with source.app_context():  # the trigger is still there afterwards
            with pytest.raises(Exception, match="append-only"):
                db.session.execute(text("DELETE FROM audit_entries"))
            db.session.rollback()


def test_a_failed_restore_into_postgresql_changes_nothing(postgres_url, tmp_path):
    source = migrated_app(tmp_path, "laptop")
    populate(source)
    archive = tmp_path / "laptop.tar.gz"
    assert cli(source, "backup", "create", "--output", str(archive)).exit_code == 0
    broken = damaged_last_member(archive, tmp_path / "broken.tar.gz")
    with fresh_postgres(postgres_url, "target") as target:
        assert cli(target, "tokens", "create", "survivor").exit_code == 0
        before = table_rows(target)
        # Fails after TRUNCATE and every other table's insert: the one transaction undoes them all.
        refused = cli(target, "backup", "restore", str(broken), "--force")
        assert refused.exit_code == 1 and "cannot be read" in refused.output
        assert table_rows(target) == before
        assert cli(target, "tokens", "create", "next").exit_code == 0
        assert cli(target, "audit", "verify").exit_code == 0
