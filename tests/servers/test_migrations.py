"""The committed migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.models import MaintenanceState
from tests.support.apps import new_postgres_database_app


def test_upgrade_from_empty_matches_models(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrated.db'}"})
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []
        state = db.session.get(MaintenanceState, 1)
        assert state is not None and state.version == 1


def _window_messages_go_down_and_up() -> None:
    """Migration 0010 keeps a window made before it, with no translations; it undoes and redoes cleanly."""
    downgrade(revision="0009")
    db.session.execute(text(
        "INSERT INTO maintenance_windows (status, mode, reason, message, scope_paths, allowed_roles, allowed_ips,"
        " starts_at, notice_minutes, drain_minutes, pause_webhook_processing, created_by, created_at, updated_at)"
        " VALUES ('completed', 'full', 'other', 'Before', '[]', '[]', '[]', '2026-01-01 00:00:00', 0, 0,"
        " false, 'cli:old', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
    ))
    db.session.commit()
    upgrade()
    from app.models import MaintenanceWindow

    old = db.session.query(MaintenanceWindow).one()
    assert old.message == "Before" and old.messages == {}
    assert old.to_state().message_in("pt_BR") == "Before"
    old.messages = {"pt-BR": "Antes"}
    db.session.commit()
    db.session.remove()
    downgrade(revision="0009")
    columns = set(db.session.execute(text("SELECT * FROM maintenance_windows")).keys())
    assert "messages" not in columns and "message" in columns
    assert db.session.execute(text("SELECT message FROM maintenance_windows")).scalar_one() == "Before"
    db.session.remove()
    upgrade()
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []


def test_window_messages_migrate_down_and_up_on_sqlite(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'downgraded.db'}"})
    with app.app_context():
        upgrade()
        _window_messages_go_down_and_up()


def test_migrated_app_serves_and_toggles(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'served.db'}"})
    with app.app_context():
        upgrade()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["maintenance", "on"]).exit_code == 0
    assert app.test_client().get("/").status_code == 503


def test_upgrade_on_postgresql_matches_models(postgres_url):
    """Run the migrations on a brand-new PostgreSQL database."""
    with new_postgres_database_app(postgres_url, "migrations") as app, app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == []
        assert db.session.get(MaintenanceState, 1).version == 1
        db.session.remove()
        _window_messages_go_down_and_up()


_SEED_AT_0010 = [
    "INSERT INTO maintenance_windows (id, status, mode, reason, message, messages, scope_paths, allowed_roles,"
    " allowed_ips, starts_at, notice_minutes, drain_minutes, pause_webhook_processing, created_by, created_at,"
    " updated_at) VALUES (7, 'completed', 'full', 'other', 'Old', '{}', '[]', '[]', '[]', '2026-01-01 00:00:00',"
    " 0, 0, false, 'cli:old', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    "INSERT INTO bypass_links (id, token_hash, window_id, created_by, created_at, expires_at)"
    " VALUES (1, 'hash', 7, 'cli:old', '2026-01-01 00:00:00', '2026-01-02 00:00:00')",
    "INSERT INTO subscribers (id, window_id, email, email_hash, language, created_at)"
    " VALUES (1, 7, 'a@example.com', 'ahash', 'en', '2026-01-01 00:00:00')",
    "INSERT INTO deliveries (id, window_id, subscriber_id, kind, status, not_before, attempts, created_at)"
    " VALUES (1, 7, 1, 'back_online', 'sent', '2026-01-01 00:00:00', 1, '2026-01-01 00:00:00')",
    "INSERT INTO outbound_webhooks (id, message_id, url, event_type, payload, status, attempts, not_before,"
    " created_at) VALUES (1, 'msg_1', 'https://hooks.example.com/', 'maintenance.ended', '{}', 'sent', 1,"
    " '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
]


def _seeded_data_survives_head_and_back() -> list[str]:
    """Upgrade a 0010 database that holds a window with children to head and back; return its SQL statements."""
    from sqlalchemy import event

    downgrade(revision="0010")
    for statement in _SEED_AT_0010:
        db.session.execute(text(statement))
    db.session.commit()
    db.session.remove()
    statements: list[str] = []

    def record(connection, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        upgrade()
        with db.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), db.metadata) == []
        from app.models import BypassLink, Delivery, MaintenanceWindow, OutboundWebhook

        window = db.session.get(MaintenanceWindow, 7)
        assert window.message == "Old" and window.recurrence_id is None
        assert db.session.get(BypassLink, 1).window_id == 7
        assert db.session.get(Delivery, 1).subscriber_id == 1
        assert db.session.get(OutboundWebhook, 1).subscriber_id is None
        db.session.remove()
        downgrade(revision="0010")
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    assert db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0010"
    assert db.session.execute(text("SELECT message FROM maintenance_windows WHERE id = 7")).scalar_one() == "Old"
    assert db.session.execute(text("SELECT window_id FROM bypass_links")).scalar_one() == 7
    assert db.session.execute(text("SELECT count(*) FROM deliveries")).scalar_one() == 1
    assert db.session.execute(text("SELECT url FROM outbound_webhooks")).scalar_one() == "https://hooks.example.com/"
    db.session.remove()
    upgrade()
    return statements


def test_windows_with_children_migrate_up_and_down_on_sqlite(tmp_path):
    """SQLite enforces foreign keys here, so no migration may rebuild a table that rows point at."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'children.db'}"})
    with app.app_context():
        upgrade()
        statements = _seeded_data_survives_head_and_back()
        assert not [statement for statement in statements if "_alembic_tmp_" in statement]


def test_windows_with_children_migrate_up_and_down_on_postgresql(postgres_url):
    with new_postgres_database_app(postgres_url, "migrations_children") as app, app.app_context():
        upgrade()
        _seeded_data_survives_head_and_back()
