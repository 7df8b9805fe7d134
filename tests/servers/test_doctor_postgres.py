"""`flask doctor` on PostgreSQL: the clock comparison with the server, and the migration version."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from flask_migrate import upgrade
from pausa_gate.windows import utcnow
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.services import doctor
from tests.support.apps import private_postgres_app


@pytest.mark.parametrize(
    ("ahead", "status", "says"),
    [
        (timedelta(0), "ok", "the database's clock is "),
        (timedelta(seconds=-5), "warn", "the database's clock is +5."),
        (timedelta(seconds=45), "fail", "the database's clock is -45."),
    ],
)
def test_the_clock_is_compared_with_the_servers(postgres_url, ahead, status, says):
    """This machine's clock is shifted by `ahead`; the server's stays the true one."""
    with private_postgres_app(postgres_url, "doctor_clock") as app, app.app_context():
        result = doctor.check_clock(now=lambda: utcnow() + ahead)
    assert result.status == status, result
    assert says in result.message
    if status != "ok":
        assert "NTP" in result.message


def test_the_doctor_line_for_an_in_sync_server_is_ok(postgres_url):
    with private_postgres_app(postgres_url, "doctor_line") as app:
        output = app.test_cli_runner().invoke(args=["doctor"]).output
    line = next(line for line in output.splitlines() if line.split()[1] == "clock")
    assert line.startswith("ok") and "from this machine's" in line


@pytest.fixture
def migrated_schema(postgres_url):
    """Yield a function making an app on an empty private schema, migrated to a given revision."""
    schema = f"pausa_doctor_migrations_{os.getpid()}"
    server = create_engine(postgres_url)
    with server.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    apps = []

    def at(revision: str):
        app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False)})
        with app.app_context():
            upgrade(revision=revision)
            db.session.remove()
        apps.append(app)
        return app

    yield at
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    with server.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    server.dispose()


def test_an_older_migration_fails_and_upgrading_clears_it(migrated_schema):
    old = migrated_schema("0011")
    result = old.test_cli_runner().invoke(args=["doctor"])
    line = next(line for line in result.output.splitlines() if line.split()[1] == "migrations")
    assert result.exit_code == 1
    assert line.startswith("FAIL") and "the database is at 0011" in line and "flask db upgrade" in line
    latest = migrated_schema("head")
    with latest.app_context():
        assert doctor.check_migrations().status == "ok"
