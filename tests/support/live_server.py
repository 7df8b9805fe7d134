"""A Pausa served in-process on a free port, for a real browser or a real CLI to talk to."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from werkzeug.serving import make_server

from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from app.services import state as state_service
from tests.support.apps import PASSWORD, USERS

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
            return state_service.current_window() is not None


def serve(app: Flask, name: str = "live-server") -> tuple[str, Callable[[], None]]:
    """Serve `app` on a free local port in a daemon thread; return its URL and a stop function."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():  # a test may stop it early to make Pausa unreachable
            return
        stopped.set()
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def sign_in(page, base_url: str, role: str = "admin") -> None:
    """Sign in through the real login form."""
    page.goto(f"{base_url}/auth/login")
    page.get_by_label("Email").fill(USERS[role])
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert "/auth/login" not in page.url, "sign-in failed"
