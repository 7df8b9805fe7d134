"""A real Pausa served on a free port, an admin token for it, and the `pausa` CLI run as a process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from app.extensions import db
from app.maintenance.state import Actor
from app.models import MaintenanceWindow
from app.services import tokens as token_service
from tests.conftest import make_app

# The repository's gate/ directory, found from this file, so the CLI under test is this clone's.
GATE_DIR = Path(__file__).resolve().parents[2] / "gate"
# Each test toggles maintenance several times; the default budget (5 a minute) is a test of its own.
OVERRIDES = {"STATE_CHANGE_RATE_LIMIT": "1000 per minute"}


@dataclass
class RunningPausa:
    """A Pausa answering on `url`, with an admin `token`, and helpers to drive and inspect it."""

    app: object
    url: str
    token: str

    def env(self, **extra: str) -> dict[str, str]:
        """Return the CLI's environment: this Pausa, this token, this clone's pausa_gate."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("PAUSA_")}
        env.update(PYTHONPATH=str(GATE_DIR), PAUSA_URL=self.url, PAUSA_TOKEN=self.token, PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60, **extra: str):
        """Run `python -m pausa_gate.cli ARGS` to completion; return the CompletedProcess."""
        return pausa_cli(*args, env=env or self.env(**extra), timeout=timeout)

    def public_status(self) -> dict:
        """Read /maintenance/status.json, what end users' pages see."""
        with urllib.request.urlopen(f"{self.url}/maintenance/status.json", timeout=5) as response:
            return json.loads(response.read())

    def windows(self) -> list[MaintenanceWindow]:
        with self.app.app_context():
            rows = db.session.query(MaintenanceWindow).order_by(MaintenanceWindow.id).all()
            db.session.expunge_all()
            return rows


def pausa_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI as a deploy pipeline would: a separate process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pausa_gate.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


def serve(app) -> tuple[str, callable]:
    """Serve `app` on a free local port in a daemon thread; return its URL and a stop function."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pausa-for-cli", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


@pytest.fixture
def pausa(tmp_path) -> Iterator[RunningPausa]:
    """Start a real Pausa (SQLite in tmp, or TEST_DATABASE_URL) with an admin-scoped token."""
    app = make_app(tmp_path, **OVERRIDES)
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    url, stop = serve(app)
    yield RunningPausa(app=app, url=url, token=raw)
    stop()


@pytest.fixture
def closed_port() -> int:
    """Return a local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session", autouse=True)
def _this_clone_is_imported():
    """Fail loudly if the CLI under test would come from another checkout's gate/."""
    done = subprocess.run(
        [sys.executable, "-c", "import pausa_gate.cli, sys; sys.stdout.write(pausa_gate.cli.__file__)"],
        env={**os.environ, "PYTHONPATH": str(GATE_DIR)}, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout).resolve().is_relative_to(GATE_DIR), done.stdout
