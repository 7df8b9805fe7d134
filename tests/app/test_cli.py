"""The `flask` commands, in the exact forms deploy scripts use (docs/cli.md)."""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow


def run(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input)


def test_on_status_off(app, runner, client):
    result = run(
        runner, "maintenance", "on", "--message", "Deploy 42", "--eta", "30m", "--reason", "deployment",
        "--mode", "full", "--allow-role", "qa", "--allow-role", "developer", "--allow-ip", "10.0.0.0/8",
        "--ends-at", "2h",
    )
    assert result.exit_code == 0, result.output
    assert "Maintenance is ON" in result.output
    assert client.get("/").status_code == 503

    status = run(runner, "maintenance", "status", "--json")
    body = json.loads(status.output)
    assert body["active"] is True
    assert body["window"]["message"] == "Deploy 42"
    assert body["window"]["allowed_roles"] == ["developer", "qa"]
    assert body["window"]["allowed_ips"] == ["10.0.0.0/8"]
    assert body["window"]["started_by"] == "cli:tester"
    assert 1795 <= body["window"]["seconds_remaining"] <= 1800

    human = run(runner, "maintenance", "status")
    assert "Maintenance is ON" in human.output and "Deploy 42" in human.output

    off = run(runner, "maintenance", "off")
    assert off.exit_code == 0
    assert client.get("/").status_code == 200
    assert run(runner, "maintenance", "status").output.strip() == "Maintenance is OFF."
    assert json.loads(run(runner, "maintenance", "status", "--json").output)["active"] is False


def test_scoped_with_several_paths(runner, client):
    result = run(runner, "maintenance", "on", "--mode", "scoped", "--scope", "/api/v1/items", "--scope", "/account")
    assert result.exit_code == 0, result.output
    assert client.get("/api/v1/items").status_code == 503
    assert client.get("/").status_code == 200


def test_on_twice_fails_with_exit_1(app, runner):
    assert run(runner, "maintenance", "on").exit_code == 0
    second = run(runner, "maintenance", "on", "--message", "again")
    assert second.exit_code == 1
    assert "already active" in second.output
    with app.app_context():
        assert db.session.query(MaintenanceWindow).count() == 1


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--eta", "yesterday"], "--eta"),
        (["--eta", "2001-01-01T00:00Z"], "Must be in the future"),
        (["--message", "x" * 501], "--message"),
        (["--allow-ip", "300.1.1.1"], "--allowed-ips"),
        (["--mode", "scoped"], "--scope-paths"),
    ],
)
def test_on_bad_input_exit_2_and_nothing_changes(app, runner, args, text):
    result = run(runner, "maintenance", "on", *args)
    assert result.exit_code == 2
    assert text in result.output
    with app.app_context():
        assert db.session.query(MaintenanceWindow).count() == 0


def test_unknown_reason_is_a_usage_error(runner):
    result = run(runner, "maintenance", "on", "--reason", "lunch")
    assert result.exit_code == 2
    assert "Invalid value for '--reason'" in result.output


def test_update_and_off_without_window(runner):
    assert run(runner, "maintenance", "update", "--message", "x").exit_code == 1
    off = run(runner, "maintenance", "off")  # already off: a deploy script's second `off` is done
    assert off.exit_code == 0 and off.output.strip() == "Maintenance is already OFF."


def test_update_changes_only_given_options(app, runner):
    run(runner, "maintenance", "on", "--message", "One", "--allow-role", "qa")
    result = run(runner, "maintenance", "update", "--eta", "2h")
    assert result.exit_code == 0, result.output
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        assert window.message == "One"
        assert window.allowed_roles == ["qa"]
        assert window.eta is not None
    assert run(runner, "maintenance", "update").exit_code == 2


def test_users_commands(app, runner, client, auth):
    created = run(runner, "users", "create", "New@Example.com", "--role", "developer", "--password", "a long password")
    assert created.exit_code == 0, created.output
    assert "new@example.com" in created.output
    prompted = run(runner, "users", "create", "p@example.com", "--role", "qa", input="pw-0123456789\npw-0123456789\n")
    assert prompted.exit_code == 0, prompted.output
    assert run(runner, "users", "create", "new@example.com", "--role", "qa", "--password", "x" * 12).exit_code == 1
    assert run(runner, "users", "create", "short@example.com", "--role", "qa", "--password", "short").exit_code == 1
    assert run(runner, "users", "create", "not-an-email", "--role", "qa", "--password", "x" * 12).exit_code == 1
    assert run(runner, "users", "set-role", "new@example.com", "admin").exit_code == 0
    listing = run(runner, "users", "list").output
    assert "new@example.com\tadmin" in listing
    assert "p@example.com\tqa" in listing
    assert run(runner, "users", "set-role", "ghost@example.com", "qa").exit_code == 1
    assert auth.login("new@example.com", password="a long password").headers["Location"] == "/admin"


def test_bootstrap_prints_password_once(app, tmp_path):
    from app import create_app
    from app.models import MaintenanceState

    fresh = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}"})
    with fresh.app_context():
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
    runner = fresh.test_cli_runner()
    first = runner.invoke(args=["users", "bootstrap"])
    assert "password:" in first.output
    password = first.output.split("password:")[1].strip()
    assert len(password) >= 16
    second = runner.invoke(args=["users", "bootstrap"])
    assert "already exists" in second.output
    assert password not in second.output


def test_tokens_create_and_revoke(app, runner, client):
    created = run(runner, "tokens", "create", "ci", "--scope", "admin", "--scope", "bypass")
    assert created.exit_code == 0, created.output
    raw = created.stdout.strip().splitlines()[0]
    assert raw.startswith("pausa_")
    with app.app_context():
        stored = db.session.execute(text("SELECT token_hash, scopes FROM api_tokens")).one()
        assert raw not in stored.token_hash
        assert stored.scopes == "admin bypass"
    assert client.get("/api/admin/maintenance", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    assert run(runner, "tokens", "create", "ci").exit_code == 1
    assert run(runner, "tokens", "revoke", "ci").exit_code == 0
    assert run(runner, "tokens", "revoke", "ci").exit_code == 1
    assert client.get("/api/admin/maintenance", headers={"Authorization": f"Bearer {raw}"}).status_code == 401


@contextmanager
def _append_only_trigger_disabled():
    """On PostgreSQL, act as the table owner would: switch the append-only trigger off, then on."""
    postgres = db.session.get_bind().dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
    yield
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
    db.session.commit()


def test_audit_verify_detects_tampering(app, runner):
    run(runner, "maintenance", "on", "--message", "one")
    run(runner, "maintenance", "off")
    ok = run(runner, "audit", "verify")
    assert ok.exit_code == 0
    assert "Audit chain OK" in ok.output
    with app.app_context():
        target = db.session.query(AuditEntry).filter_by(action="maintenance.activated").one().id
        # Tamper behind the application's back, as an attacker with owner rights would.
        with _append_only_trigger_disabled():
            db.session.execute(
                text("UPDATE audit_entries SET actor = 'someone-else' WHERE id = :id"), {"id": target}
            )
    broken = run(runner, "audit", "verify")
    assert broken.exit_code == 1
    assert f"broken at entry {target}" in broken.output


def test_audit_verify_detects_deleted_row(app, runner):
    run(runner, "maintenance", "on")
    run(runner, "maintenance", "off")
    with app.app_context():
        first_maintenance = db.session.query(AuditEntry).filter_by(action="maintenance.activated").one().id
        with _append_only_trigger_disabled():
            db.session.execute(text("DELETE FROM audit_entries WHERE id = :id"), {"id": first_maintenance})
    broken = run(runner, "audit", "verify")
    assert broken.exit_code == 1
    assert f"broken at entry {first_maintenance + 1}" in broken.output


def test_audit_export_csv(runner):
    run(runner, "maintenance", "on", "--message", '=HYPERLINK("x"), "quoted"\nnew line')
    output = run(runner, "audit", "export").output
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(output)))
    activated = [row for row in rows if row["action"] == "maintenance.activated"]
    assert len(activated) == 1
    assert "HYPERLINK" in activated[0]["details"]
    assert rows[0]["action"] == "user.created"


def test_worker_once_records_automatic_end(app, runner):
    import time

    run(runner, "maintenance", "on", "--ends-at", "1s")
    time.sleep(1.1)
    result = run(runner, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert "ended automatically" in result.output
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        assert (window.status, window.ended_how, window.ended_by) == ("completed", "auto", "system")
        entry = db.session.query(AuditEntry).filter_by(action="maintenance.ended").one()
        assert entry.actor == "system"
    assert "Maintenance is OFF" in run(runner, "maintenance", "status").output


def test_unmigrated_database_is_one_clear_line(tmp_path):
    from app import create_app

    bare = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    result = bare.test_cli_runner().invoke(args=["maintenance", "status"])
    assert result.exit_code == 1
    assert "flask db upgrade" in result.output
    assert "Traceback" not in result.output
