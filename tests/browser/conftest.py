"""Real-browser fixtures: the app on a live server and a headless Chromium driven by Playwright.

The browser is the system Chromium (``playwright install`` cannot download here), shared with
tests/servers/edge through tests/support/browser.py. If it is missing the tests fail loudly: a
skipped browser suite would hide a broken maintenance flow.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.extensions import db
from tests.support.apps import make_app
from tests.support.browser import ConsoleErrors, browser, playwright_driver  # noqa: F401  (this package's Chromium)
from tests.support.live_server import LIVE_OVERRIDES, LiveServer, serve, sign_in


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    database = tmp_path_factory.mktemp("browser") / "pausa.db"
    # Pages, not the database, are under test here: always SQLite, whatever TEST_DATABASE_URL says.
    app = make_app(database.parent, database_url=f"sqlite:///{database}", **LIVE_OVERRIDES)
    url, stop = serve(app)
    yield LiveServer(app=app, url=url)
    stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _no_maintenance_leaks(request):
    """Each browser test starts and ends with maintenance off, whatever happened inside."""
    if "live_server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("live_server")
    assert not server.is_active(), "a previous test left maintenance on"
    yield
    if server.is_active():
        server.end()


@pytest.fixture(scope="package")
def admin_storage(browser, live_server) -> dict:  # noqa: F811  (the fixture, imported above)
    """An admin session (cookies) that other contexts can start from."""
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_server.url)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()
