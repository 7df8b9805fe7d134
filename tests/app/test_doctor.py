"""`flask doctor`: one line per check, FAIL for what breaks Pausa, warn for what degrades it, exit 1 on FAIL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from flask_migrate import stamp, upgrade
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, CircuitBreaker, WebhookEvent, WorkerHeartbeat
from app.services import audit as audit_service
from app.services import doctor
from app.services import maintenance as maintenance_service
from tests.support.apps import make_app

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def healthy_app(directory: Path, **overrides):
    """An app whose database is at the latest migration and whose worker has just reported."""
    app = make_app(directory, **overrides)
    with app.app_context():
        stamp()  # make_app builds the tables from the models, which match the newest migration
        db.session.add(WorkerHeartbeat(name="worker-host:1", beat_at=utcnow()))
        db.session.commit()
    return app


def doctor_lines(app, *args):
    result = app.test_cli_runner().invoke(args=["doctor", *args])
    assert "Traceback" not in result.output
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.strip()}
    return result, lines


def closed_port() -> int:
    """A local port nothing listens on: connections to it are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_healthy_app_passes_every_check(tmp_path):
    result, lines = doctor_lines(healthy_app(tmp_path))
    assert result.exit_code == 0, result.output
    assert set(lines) == {
        "secret_key", "mail_settings", "webhook_settings", "proxy_settings", "redis_settings", "gate_settings",
        "database", "redis", *doctor.DATABASE_CHECKS,
    }
    assert all(line.startswith("ok ") for line in lines.values()), result.output
    assert "at the latest migration" in lines["migrations"]
    if app_is_sqlite := "sqlite" in lines["database"]:
        assert "SQLite runs on this machine's clock" in lines["clock"]
    assert app_is_sqlite or "from this machine's" in lines["clock"]


def test_json_lists_every_check_for_scripts(tmp_path):
    result = healthy_app(tmp_path).test_cli_runner().invoke(args=["doctor", "--json"])
    body = json.loads(result.output)
    assert result.exit_code == 0 and body["ok"] is True
    assert {check["check"]: check["status"] for check in body["checks"]}["worker"] == "ok"


@pytest.mark.parametrize(
    ("overrides", "check", "status", "says"),
    [
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": None, "MAIL_FROM": "ops@example.com",
          "PUBLIC_URL": "https://pausa.example.com"}, "mail_settings", "fail", "without SENDGRID_API_KEY"),
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.key", "MAIL_FROM": "pausa@localhost",
          "PUBLIC_URL": "https://pausa.example.com"}, "mail_settings", "fail", "MAIL_FROM='pausa@localhost'"),
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.key", "MAIL_FROM": "ops@example.com",
          "PUBLIC_URL": None}, "mail_settings", "warn", "PUBLIC_URL is unset"),
        ({"MAIL_BACKEND": "disabled", "ADMIN_ALERT_EMAILS": ("ops@example.com",)},
         "mail_settings", "warn", "alerts are never emailed"),
        ({"OUTBOUND_WEBHOOK_URLS": ("https://hooks.example.com/",), "OUTBOUND_WEBHOOK_SECRET": None},
         "webhook_settings", "fail", "without OUTBOUND_WEBHOOK_SECRET"),
        ({"STANDARD_WEBHOOK_SECRETS": ("not-a-secret",)}, "webhook_settings", "fail",
         "STANDARD_WEBHOOK_SECRETS holds a secret that is not whsec_"),
        ({"STRIPE_WEBHOOK_SECRETS": ("sk_live_123",)}, "webhook_settings", "warn", "does not start with whsec_"),
        ({"TRUSTED_PROXY_COUNT": 5}, "proxy_settings", "fail", "TRUSTED_PROXY_COUNT=5 is not between 0 and 3"),
        ({"TRUSTED_PROXY_COUNT": 0, "HEROKU_DYNO": "web.1"}, "proxy_settings", "warn",
         "set TRUSTED_PROXY_COUNT=1"),
        ({"GATE_TRUSTED_PROXIES": ("0.0.0.0/0",)}, "proxy_settings", "warn", "trusts every address"),
        ({"MAINTENANCE_GATE": False}, "gate_settings", "warn", "maintenance is never enforced"),
    ],
)
def test_each_misconfiguration_is_named_with_its_fix(tmp_path, overrides, check, status, says):
    result, lines = doctor_lines(healthy_app(tmp_path, **overrides))
    assert lines[check].startswith(LABELS[status] + " "), result.output
    assert says in lines[check]
    assert result.exit_code == (1 if status == "fail" else 0), result.output


PRODUCTION = {
    "ENVIRONMENT": "production", "SECRET_KEY": "8f2c1e9a7b3d4f6e0a5c2b9d8e7f1a3c", "MAIL_BACKEND": "disabled",
    "METRICS_TOKEN": "metrics-token", "TRUSTED_PROXY_COUNT": 1, "MAINTENANCE_GATE": True,
}


@pytest.mark.parametrize(
    ("changes", "check", "status", "says"),
    [
        ({"SECRET_KEY": None}, "secret_key", "fail", "SECRET_KEY is not set"),
        ({"SECRET_KEY": "changeme"}, "secret_key", "fail", "well-known example value"),
        ({"SECRET_KEY": "a-short-key-123"}, "secret_key", "fail", "15 characters, fewer than 32"),
        ({"SECRET_KEY": "ab" * 20}, "secret_key", "warn", "not random"),
        ({"MAIL_BACKEND": "console"}, "mail_settings", "fail", "only pretends to send"),
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.key", "MAIL_FROM": "ops@example.com"},
         "mail_settings", "fail", "PUBLIC_URL is unset"),
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": "SG.key", "MAIL_FROM": "ops@example.com",
          "PUBLIC_URL": "http://pausa.example.com"}, "mail_settings", "warn", "is not https"),
        ({"METRICS_TOKEN": None}, "gate_settings", "warn", "/metrics answers anyone"),
        ({"MAINTENANCE_GATE": False}, "gate_settings", "fail", "maintenance is never enforced"),
        ({"REDIS_URL": "rediss://h:p@ec2.example.com:6380", "HEROKU_DYNO": "web.1"}, "redis_settings", "warn",
         "heroku config:set REDIS_SSL_CERT_REQS=none"),
        # app.json's own settings: Heroku Redis's self-signed certificate accepted, nothing to say.
        ({"REDIS_URL": "rediss://h:p@ec2.example.com:6380", "HEROKU_DYNO": "web.1", "REDIS_SSL_CERT_REQS": "none"},
         "redis_settings", "ok", "rediss://"),
        # A key typed into the deploy form while app.json's MAIL_BACKEND=disabled stays: no email ever leaves.
        ({"SENDGRID_API_KEY": "SG.key"}, "mail_settings", "warn", "set MAIL_BACKEND=sendgrid"),
        # The app does not start with it (the Redis client refuses the URL): `python -m app.doctor` says why.
        ({"REDIS_URL": "http://cache.example.com:6379"}, "redis_settings", "fail", "not redis://"),
    ],
)
def test_production_settings_are_held_to_production_rules(changes, check, status, says):
    """Production refuses some of these at start, so they are checked on the settings alone."""
    results = {result.check: result for result in doctor.check_settings({**PRODUCTION, **changes})}
    assert results[check].status == status and says in results[check].message
    others = [result for name, result in results.items() if name != check]
    assert all(result.status == "ok" for result in others), others


def test_a_production_app_that_refuses_to_start_is_still_diagnosed(tmp_path):
    env = {**os.environ, "PAUSA_ENV": "production", "SECRET_KEY": "changeme", "MAIL_BACKEND": "console",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'refused.db'}"}
    done = subprocess.run([sys.executable, "-m", "app.doctor"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = {line.split()[1]: line for line in done.stdout.splitlines()}
    assert lines["secret_key"].startswith("FAIL") and "well-known example value" in lines["secret_key"]
    assert lines["startup"].startswith("FAIL  startup") and "MAIL_BACKEND=console is refused" in lines["startup"]
    assert lines["database"].startswith("skip")


def test_a_database_at_an_older_migration_fails_with_the_upgrade_hint(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}"})
    with app.app_context():
        upgrade(revision="0011")
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["migrations"].startswith("FAIL")
    assert "the database is at 0011" in lines["migrations"] and "run `flask db upgrade`" in lines["migrations"]


def test_an_empty_database_fails_and_skips_what_needs_the_tables(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.db'}"})
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["migrations"].startswith("FAIL") and "run `flask db upgrade`" in lines["migrations"]
    assert lines["worker"].split(None, 2)[2] == "skipped: database not migrated"


def test_tables_without_a_recorded_migration_warn(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():  # on a shared server database, an earlier test's stamp is still there
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
    _, lines = doctor_lines(app)
    assert lines["migrations"].startswith("warn") and "flask db stamp" in lines["migrations"]


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_an_unreachable_database_fails_once_and_the_rest_is_skipped(tmp_path, where):
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'no-such-directory' / 'pausa.db'}",
        "postgresql": f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/pausa",
    }[where]
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["database"].startswith("FAIL") and "check DATABASE_URL" in lines["database"]
    for name in doctor.DATABASE_CHECKS:
        assert lines[name].split(None, 2)[2] == "skipped: database unreachable"
    assert lines["secret_key"].startswith("ok")


def test_unreachable_redis_fails(tmp_path):
    result, lines = doctor_lines(healthy_app(tmp_path, REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"))
    assert result.exit_code == 1
    assert lines["redis"].startswith("FAIL") and "check REDIS_URL" in lines["redis"]


def test_reachable_redis_is_ok(tmp_path, redis_url):
    result, lines = doctor_lines(healthy_app(tmp_path, REDIS_URL=redis_url))
    assert lines["redis"].startswith("ok") and "answered in" in lines["redis"]
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("heartbeat", "says"),
    [
        (None, "no worker has ever reported: start `flask worker`"),
        ({"beat_at": timedelta(minutes=5)}, "no worker has reported for 5 min (WORKER_STALE_SECONDS=60): start"),
        ({"beat_at": timedelta(seconds=5), "stopped_at": timedelta(seconds=5)}, "stopped 5 s ago: start"),
    ],
)
def test_a_missing_or_stale_worker_fails(tmp_path, heartbeat, says):
    app = healthy_app(tmp_path)
    with app.app_context():
        db.session.query(WorkerHeartbeat).delete()
        if heartbeat is not None:
            now = utcnow()
            db.session.add(WorkerHeartbeat(name="worker-host:2", **{
                column: now - ago for column, ago in heartbeat.items()
            }))
        db.session.commit()
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["worker"].startswith("FAIL") and says in lines["worker"]


def tamper(entry_id: int) -> None:
    """Change an audit entry behind the application's back, as an attacker with owner rights would."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_append_only"))
    db.session.execute(text("UPDATE audit_entries SET actor = 'mallory' WHERE id = :id"), {"id": entry_id})
    if postgres:
        db.session.execute(text("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_append_only"))
    db.session.commit()


def test_a_tampered_audit_chain_fails(tmp_path):
    app = healthy_app(tmp_path)
    with app.app_context():
        for number in range(3):
            audit_service.record("test.entry", Actor("cli:test"), details={"n": number})
        db.session.commit()
        target = db.session.query(AuditEntry).filter_by(action="test.entry").first().id
        tamper(target)
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["audit_chain"].startswith("FAIL") and f"broken at entry {target}" in lines["audit_chain"]


def test_only_the_newest_entries_are_walked_and_the_line_says_so(tmp_path):
    app = healthy_app(tmp_path)
    with app.app_context():
        for number in range(6):
            audit_service.record("test.entry", Actor("cli:test"), details={"n": number})
        db.session.commit()
        total = db.session.query(AuditEntry).count()
        newest = db.session.query(AuditEntry).order_by(AuditEntry.id.desc()).first().id
        report, counted = audit_service.verify_recent(3)
        assert report.ok and report.checked == 3 and counted == total
        tamper(newest)
        broken, _ = audit_service.verify_recent(3)
        assert broken.broken_id == newest


def test_a_backlog_above_the_threshold_warns(tmp_path):
    hooks = ("https://hooks.example.com/a", "https://hooks.example.com/b")
    app = healthy_app(tmp_path, BACKLOG_WARN_WEBHOOKS=1, OUTBOUND_WEBHOOK_URLS=hooks,
                      OUTBOUND_WEBHOOK_SECRET=STANDARD_SECRET)
    with app.app_context():  # starting a window queues one outbound webhook per URL
        maintenance_service.activate_window(validate_window({"message": "Deploying"}, utcnow()), Actor("cli:t"))
    result, lines = doctor_lines(app)
    assert lines["backlogs"].startswith("warn")
    assert "outbound_webhooks_queued=2 (at or over BACKLOG_WARN_WEBHOOKS=1)" in lines["backlogs"]
    assert result.exit_code == 0


def test_an_open_mail_circuit_fails_and_dead_letters_warn(tmp_path):
    app = healthy_app(tmp_path)
    with app.app_context():
        now = utcnow()
        db.session.add(CircuitBreaker(name="sendgrid", state="open", failures=5, opened_at=now,
                                      retry_at=now + timedelta(seconds=60), last_error="HTTP 401"))
        db.session.add(WebhookEvent(provider="stripe", event_id="evt_1", payload="{}", status="dead", attempts=8))
        db.session.commit()
    result, lines = doctor_lines(app)
    assert result.exit_code == 1
    assert lines["mail_circuit"].startswith("FAIL") and "last: HTTP 401" in lines["mail_circuit"]
    assert lines["dead_letters"].startswith("warn") and "1 webhook event ran out of attempts" in lines["dead_letters"]
