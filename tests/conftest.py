"""Shared fixtures: an app on a throwaway database, a client, the CLI runner and sign-in helpers."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest

from app import create_app
from app.extensions import db
from app.maintenance.state import Actor
from app.models import MaintenanceState
from app.services import users as user_service

PASSWORD = "correct horse battery"
USERS = {
    "admin": "admin@example.com",
    "developer": "dev@example.com",
    "qa": "qa@example.com",
    "user": "user@example.com",
}
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_HEADER = re.compile(r'"X-CSRFToken": "([^"]+)"')


_TEMPLATE_DB: dict[str, Path] = {}


def _seed(app) -> None:
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
        for role, email in USERS.items():
            user_service.create_user(email, role, PASSWORD, Actor("test-setup"))
        db.session.remove()
        db.engine.dispose()


def make_app(database_url: str, **overrides):
    """Create a test app with a fresh schema, the state row and one user per role.

    SQLite files are copied from a template built once per run, because hashing
    four passwords for every test would dominate the suite's time.
    """
    prefix = "sqlite:///"
    if database_url.startswith(prefix) and database_url != prefix:
        if "template" not in _TEMPLATE_DB:
            template = Path(tempfile.mkdtemp(prefix="pausa-template-")) / "template.db"
            _seed(create_app({"SQLALCHEMY_DATABASE_URI": prefix + str(template)}))
            _TEMPLATE_DB["template"] = template
        shutil.copyfile(_TEMPLATE_DB["template"], database_url[len(prefix):])
        return create_app({"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, **overrides})
    _seed(app)
    return app


@pytest.fixture
def app(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'pausa.db'}")
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html) or CSRF_HEADER.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


class AuthActions:
    """Sign in and out through the real login form, CSRF token included."""

    def __init__(self, client):
        self._client = client

    def login(self, role: str = "admin", password: str = PASSWORD, follow: bool = False):
        page = self._client.get("/auth/login")
        token = csrf_from(page.get_data(as_text=True))
        return self._client.post(
            "/auth/login",
            data={"email": USERS.get(role, role), "password": password, "csrf_token": token},
            follow_redirects=follow,
        )

    def csrf(self, path: str = "/admin") -> str:
        """Return a CSRF token for the signed-in session, read from a page."""
        return csrf_from(self._client.get(path).get_data(as_text=True))


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def activate(app):
    """Start a window through the service (as the CLI would) and return its id."""
    from app.maintenance.validation import validate_window
    from app.maintenance.windows import utcnow
    from app.services import maintenance as maintenance_service

    def _activate(**fields):
        with app.app_context():
            data = validate_window(fields, utcnow())
            window = maintenance_service.activate_window(data, Actor("cli:test"))
            return window.id

    return _activate


@pytest.fixture
def sql_counter(app):
    """Count SQL statements sent to the database while the block runs."""
    from sqlalchemy import event

    class Counter:
        def __init__(self):
            self.statements: list[str] = []

        def __call__(self, conn, cursor, statement, parameters, context, executemany):
            self.statements.append(statement)

    counter = Counter()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)
