"""Real-browser fixtures (Chromium itself is shared with tests/edge: tests/support/browser.py): the app on a live server and a headless Chromium driven by Playwright.

The browser is the system Chromium (``playwright install`` cannot download here). If it is
missing the tests fail loudly: a skipped browser suite would hide a broken maintenance flow.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from flask import Flask
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from werkzeug.serving import make_server

from app.extensions import db
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from tests.conftest import PASSWORD, USERS, make_app
from tests.support.browser import browser, playwright_driver  # noqa: F401  (this package's Chromium)

# Fast polls so a page reacts within about a second, and no state caching between requests.
LIVE_OVERRIDES = {
    "BANNER_POLL_SECONDS": 1,
    "STATUS_POLL_MIN_SECONDS": 1,
    "STATUS_POLL_MAX_SECONDS": 1,
    "MAINTENANCE_STATE_TTL": 0.0,
}


@dataclass
class LiveServer:
    app: Flask
    url: str

    # Acting as a real admin: the dashboard lists who started each window, and an e-mail
    # address is the longest unbreakable thing it shows.
    actor: Actor = field(default_factory=lambda: Actor(USERS["admin"]))

    def activate(self, **fields) -> None:
        """Turn maintenance on behind the browser's back (through the service, not the UI)."""
        data = {"message": "Deploying v2", "reason": "deployment", "mode": "full", "eta": "30m", **fields}
        with self.app.app_context():
            maintenance_service.activate_window(validate_window(data, utcnow()), self.actor)

    def end(self) -> None:
        with self.app.app_context():
            maintenance_service.end_window(self.actor)

    def is_active(self) -> bool:
        with self.app.app_context():
            return maintenance_service.current_window() is not None


def serve(app: Flask) -> tuple[str, Callable[[], None]]:
    """Serve `app` on a free local port in a daemon thread; return its URL and a stop function."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


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


def sign_in(page, base_url: str, role: str = "admin") -> None:
    """Sign in through the real login form."""
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("Email").fill(USERS[role])
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/auth/login" not in page.url, "sign-in failed"


@pytest.fixture(scope="package")
def admin_storage(browser, live_server) -> dict:  # noqa: F811  (the fixture, imported above)
    """An admin session (cookies) that other contexts can start from."""
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_server.url)
    state = context.storage_state()
    context.close()
    return state


@dataclass
class ConsoleErrors:
    """Console errors, uncaught exceptions and failed loads of a page (CSP violations are console errors)."""

    messages: list[str] = field(default_factory=list)
    # Loading a page that is *meant* to answer 503 (the maintenance page in place) makes
    # Chromium log "Failed to load resource … 503" for the document itself; that is the
    # specified status, not an error of the page. Only that exact case is tolerated.
    expected_document_status: dict[str, int] = field(default_factory=dict)

    def watch(self, page):
        """Start collecting the errors of `page`, and return it."""
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.messages.append(f"pageerror: {exc}"))
        # Chromium does not always log a failed load (a favicon, say): check the answers too.
        page.on("response", self._on_response)
        return page

    def _on_response(self, response) -> None:
        if response.status >= 400 and self.expected_document_status.get(response.url) != response.status:
            self.messages.append(f"response: {response.status} {response.request.method} {response.url}")

    def _on_console(self, message) -> None:
        if message.type != "error":
            return
        text = message.text
        url = (message.location or {}).get("url", "")
        status = self.expected_document_status.get(url)
        if status is not None and text.startswith(
            f"Failed to load resource: the server responded with a status of {status} "
        ):
            return
        self.messages.append(f"console: {text} ({url})")


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()
