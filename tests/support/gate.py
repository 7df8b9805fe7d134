"""The pausa CLI run as a process against a real Pausa, and a scripted stand-in for Pausa (tests/servers/gate)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from app.extensions import db
from app.models import MaintenanceWindow
from app.services import state as state_service

# The repository's gate/ directory, found from this file, so the CLI under test is this clone's.
GATE_DIR = Path(__file__).resolve().parents[2] / "gate"
# Each test toggles maintenance several times; the default budget (5 a minute) is a test of its own.
OVERRIDES = {"STATE_CHANGE_RATE_LIMIT": "1000 per minute"}

# A command for `pausa run` that checks, from outside, that Pausa tells users it is in maintenance
# while the command runs (exit 0), or not (exit 9).
CHECK_ACTIVE = (
    "import json, os, sys, urllib.request\n"
    "with urllib.request.urlopen(os.environ['PAUSA_URL'] + '/maintenance/status.json') as answer:\n"
    "    body = json.loads(answer.read())\n"
    "sys.exit(0 if body['active'] and body['window']['message'] == sys.argv[1] else 9)\n"
)


@dataclass
class RunningPausa:
    """A Pausa answering on `url`, with an admin `token`, and helpers to drive and inspect it."""

    app: object
    url: str
    token: str
    stop: callable

    def env(self, **extra: str) -> dict[str, str]:
        """Return the CLI's environment: this Pausa, this token, this clone's pausa_gate."""
        env = {name: value for name, value in os.environ.items() if not name.startswith("PAUSA_")}
        env.update(PYTHONPATH=str(GATE_DIR), PAUSA_URL=self.url, PAUSA_TOKEN=self.token, PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60, **extra: str):
        """Run `python -m pausa_gate.cli ARGS` to completion, checking it never prints the token."""
        done = pausa_cli(*args, env=env or self.env(**extra), timeout=timeout)
        assert self.token not in done.stdout + done.stderr, "the CLI printed the token"
        return done

    def active(self) -> MaintenanceWindow | None:
        """Return the window in effect, read from the database."""
        with self.app.app_context():
            window = state_service.current_window()
            if window is not None:
                db.session.expunge(window)
            db.session.remove()
            return window

    def public_status(self) -> dict:
        """Read /maintenance/status.json, what end users' pages see."""
        with urllib.request.urlopen(f"{self.url}/maintenance/status.json", timeout=5) as response:
            return json.loads(response.read())

    def windows(self) -> list[MaintenanceWindow]:
        with self.app.app_context():
            rows = db.session.query(MaintenanceWindow).order_by(MaintenanceWindow.id).all()
            db.session.expunge_all()
            db.session.remove()
            return rows


def pausa_cli(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the CLI as a deploy pipeline would: a separate process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pausa_gate.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )


HANG = "hang"


@dataclass
class Scripted:
    """One scripted answer: a status, headers and a body (a dict is sent as JSON)."""

    status: int
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    """Stand in for Pausa: answer from a script (the last answer repeats) and record each request."""

    # For what a real Pausa cannot be made to do on demand: 5xx, a Retry-After of our choosing,
    # a redirect, a hang, a body that is not JSON.

    def __init__(self, *answers: Scripted | str):
        self.answers = list(answers)
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.times: list[float] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with scripted._lock:
                    scripted.requests.append((self.command, self.path, dict(self.headers)))
                    scripted.times.append(time.monotonic())
                    answer = scripted.answers.pop(0) if len(scripted.answers) > 1 else scripted.answers[0]
                if answer == HANG:
                    scripted._release.wait(30)
                    self.close_connection = True
                    return
                payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
                self.send_response(answer.status)
                headers = {"Content-Type": "application/json", **answer.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-pausa", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
