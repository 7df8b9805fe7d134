"""On PostgreSQL the database itself refuses UPDATE and DELETE of audit rows.

Fails (never skips) when PostgreSQL is down, like tests/servers/test_notifications_postgres.py.
"""

from __future__ import annotations

import pytest
from pausa_gate.state import Actor
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.services import audit
from tests.support.apps import new_postgres_database_app, private_postgres_app


@pytest.fixture
def pg_app(postgres_url):
    """An app on a private schema of the PostgreSQL server, its tables built with create_all."""
    with private_postgres_app(postgres_url, "audit") as app:
        with app.app_context():
            audit.record("test.one", Actor("t"), details={"n": 1})
            audit.record("test.two", Actor("t"), details={"n": 2})
            db.session.commit()
        yield app


@pytest.mark.parametrize("statement", [
    "UPDATE audit_entries SET actor = 'mallory' WHERE action = 'test.one'",
    "DELETE FROM audit_entries WHERE action = 'test.one'",
    "DELETE FROM audit_entries",
])
def test_plain_update_and_delete_are_refused(pg_app, statement):
    with pg_app.app_context():
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text(statement))
        db.session.rollback()
        assert db.session.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 2
        assert audit.verify_chain().ok
        # Appending still works.
        audit.record("test.three", Actor("t"))
        db.session.commit()
        assert audit.verify_chain().checked == 3


def test_migration_0007_creates_the_trigger(postgres_url):
    from flask_migrate import downgrade, upgrade

    with new_postgres_database_app(postgres_url, "audit_migrations") as app, app.app_context():
        upgrade()
        audit.record("test.one", Actor("t"))
        db.session.commit()
        with pytest.raises(DBAPIError, match="append-only"):
            db.session.execute(text("DELETE FROM audit_entries"))
        db.session.rollback()
        downgrade(revision="0006")
        db.session.execute(text("DELETE FROM audit_entries"))  # no trigger any more
        db.session.rollback()
        upgrade()
