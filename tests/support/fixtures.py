"""The app fixtures of the app and servers layers: an app on a throwaway database, its clients, the servers.

Each layer imports them into its conftest.py, where pytest scopes them to that directory; tests/core
imports none of this and runs without an app.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import event

from app.extensions import db
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from tests.support.apps import AuthActions, dispose_created_apps, make_app, private_postgres_app
from tests.support.fake_sendgrid import MAX_PERSONALIZATIONS, FakeSendGrid
from tests.support.services import require_postgres, require_redis


@pytest.fixture(autouse=True)
def _dispose_engines():
    """Close every connection a test's apps opened, so PostgreSQL never runs out of them."""
    yield
    dispose_created_apps()


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def activate(app):
    """Start a window through the service (as the CLI would) and return its id."""

    def _activate(**fields):
        with app.app_context():
            data = validate_window(fields, utcnow())
            window = maintenance_service.activate_window(data, Actor("cli:test"))
            return window.id

    return _activate


class StatementCounter:
    """The SQL statements sent to the database while a block runs."""

    def __init__(self):
        self.statements: list[str] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)


@pytest.fixture
def sql_counter(app):
    """Count SQL statements sent to the database while the block runs."""
    counter = StatementCounter()
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """Return the PostgreSQL server URL for tests about PostgreSQL; fail loudly if it is down."""
    return require_postgres()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Return the Redis URL for tests about Redis; fail loudly if it is down."""
    return require_redis()


@pytest.fixture
def fake():
    """A fake SendGrid on a real socket, slow enough (0.2 s a call) that workers sending at once overlap."""
    with FakeSendGrid(api_key="SG.pg-key", latency=0.2) as server:
        yield server


@pytest.fixture
def mailing_pg_app(request, postgres_url, fake):
    """An app on a private PostgreSQL schema (named after the test module) that mails the fake SendGrid."""
    with private_postgres_app(
        postgres_url, request.module.__name__.rsplit(".", 1)[-1], MAIL_BACKEND="sendgrid",
        SENDGRID_API_KEY="SG.pg-key", SENDGRID_API_HOST=fake.url, SENDGRID_TIMEOUT_SECONDS=5,
        PUBLIC_URL="https://shop.example.com",
    ) as mailing_app:
        yield mailing_app


def assert_sent_once_in_batches(fake: FakeSendGrid, reports: list, english: int, portuguese: int) -> None:
    """Check that racing workers mailed every "en…" and "pt…" recipient once, in one-language batches.

    Workers that take turns make the fewest calls (1,000 a call per language); two that claim the last
    rows of a language at the same moment split them, each skipping the rows the other is locking (seen
    in CI: one call more). Never past 1,000 personalizations a call, never two languages in one.
    """
    delivered = fake.delivered()
    duplicates = [email for email, n in Counter(delivered).items() if n > 1]
    assert not duplicates, duplicates[:5]
    assert len(delivered) == english + portuguese
    fewest = math.ceil(english / MAX_PERSONALIZATIONS) + math.ceil(portuguese / MAX_PERSONALIZATIONS)
    sizes = [call.personalizations for call in fake.calls]
    assert len(sizes) >= fewest and max(sizes) <= MAX_PERSONALIZATIONS, sizes
    assert all(len({email[:2] for email in call.recipients}) == 1 for call in fake.calls)
    assert sum(report.calls for report in reports) == len(fake.calls)
