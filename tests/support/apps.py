"""Test apps on a throwaway database, sign-in helpers, private PostgreSQL schemas and races.

Shared by the app, servers and browser layers (and docs/screenshots); the fixtures built on these
live in tests/support/fixtures.py.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import STATE_CACHE_KEY, db
from app.maintenance.validation import validate_window
from app.models import MaintenanceState
from app.services import scheduling as scheduling_service
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


# The database every test runs on: SQLite by default, PostgreSQL (or any URL) when set.
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or None
_SQLITE_TEMPLATE: dict[str, Path] = {}
_SNAPSHOTS: dict[str, dict[str, list[dict]]] = {}
_CREATED_APPS: list = []


def _seed(app) -> None:
    """Build the schema, the state row and one user per role (hashing four passwords)."""
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
        for role, email in USERS.items():
            user_service.create_user(email, role, PASSWORD, Actor("test-setup"))


def _restore_snapshot(app) -> None:
    """Reset a server database to the seeded rows: truncate, re-insert, move the sequences on."""
    with app.app_context():
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        tables = db.metadata.sorted_tables
        if url not in _SNAPSHOTS:
            _seed(app)
            _SNAPSHOTS[url] = {
                table.name: [dict(row._mapping) for row in db.session.execute(table.select())]
                for table in tables
            }
            db.session.commit()
            return
        names = ", ".join(table.name for table in tables)
        db.session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        for table in tables:
            rows = _SNAPSHOTS[url][table.name]
            if rows:
                db.session.execute(table.insert(), rows)
            if "id" in table.c and rows:
                db.session.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :top)"),
                    {"top": max(row["id"] for row in rows)},
                )
        db.session.commit()


def make_app(directory: Path, database_url: str | None = None, **overrides):
    """Create a test app on a fresh copy of the seeded database.

    SQLite files are copied from a template built once per run, and a server
    database (TEST_DATABASE_URL) is truncated and refilled from a snapshot,
    because hashing four passwords for every test would dominate the suite.
    """
    url = database_url or TEST_DATABASE_URL or f"sqlite:///{Path(directory) / 'pausa.db'}"
    if url.startswith("sqlite:///"):
        if "template" not in _SQLITE_TEMPLATE:
            template = Path(tempfile.mkdtemp(prefix="pausa-template-")) / "template.db"
            seeded = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{template}"})
            _seed(seeded)
            with seeded.app_context():
                db.session.remove()
                db.engine.dispose()  # checkpoints the WAL into the file we copy
            _SQLITE_TEMPLATE["template"] = template
        target = Path(url[len("sqlite:///"):])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_SQLITE_TEMPLATE["template"], target)
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, **overrides})
    else:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, **overrides})
        _restore_snapshot(app)
    _CREATED_APPS.append(app)
    return app


def dispose_created_apps() -> None:
    """Close every connection the apps made so far opened, so PostgreSQL never runs out of them."""
    while _CREATED_APPS:
        created = _CREATED_APPS.pop()
        cache = created.extensions.get(STATE_CACHE_KEY)
        if cache is not None:
            cache.stop()  # a background refresher would reconnect after the test
        with created.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


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


@contextmanager
def private_postgres_app(postgres_url: str, name: str, **overrides):
    """Yield an app on a private schema of the PostgreSQL server, so nothing else running there interferes."""
    schema = f"pausa_{name}_{os.getpid()}"
    server = create_engine(postgres_url)
    with server.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(postgres_url).update_query_dict({"options": f"-csearch_path={schema}"})
    app = create_app({"SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False), **overrides})
    with app.app_context():
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with server.begin() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        server.dispose()


@contextmanager
def new_postgres_database_app(postgres_url: str, purpose: str, **overrides):
    """Yield an app on a new, empty PostgreSQL database (for the real migrations); drop it afterwards."""
    name = f"pausa_{purpose}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = create_engine(make_url(postgres_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, **overrides})
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def race(app, work, threads: int = 2, timeout: float = 60):
    """Run `work()` in `threads` threads at once, each in its own app context (its own connection).

    Returns (results, errors) so a test can assert on both.
    """
    barrier = threading.Barrier(threads)
    results: list = []
    errors: list = []

    def run():
        try:
            with app.app_context():
                barrier.wait(timeout=5)
                results.append(work())
        except Exception as error:  # surfaced to the test through `errors`
            errors.append(error)

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=timeout)
    return results, errors


def schedule_in(app, starts_in: timedelta, eta_in: timedelta | None = None, actor: str = "cli:test",
                **fields) -> int:
    """Schedule a window through the service, `starts_in` (and its ETA `eta_in`) from now; return its id."""
    now = utcnow()
    data = {"message": "Database upgrade", "reason": "database", "notice_minutes": "30",
            "starts_at": (now + starts_in).isoformat(), **fields}
    if eta_in is not None:
        data["eta"] = (now + eta_in).isoformat()
    with app.app_context():
        return scheduling_service.schedule_window(validate_window(data, now), Actor(actor), now).id
