"""The gate layer's fixtures: a real Pausa served on a free port with an admin token, for the `pausa` CLI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pausa_gate.state import Actor

from app.services import tokens as token_service
from tests.support.apps import make_app
from tests.support.gate import GATE_DIR, OVERRIDES, RunningPausa
from tests.support.live_server import serve


@pytest.fixture
def start_pausa(tmp_path) -> Iterator[callable]:
    """Return a function that starts a real Pausa with an admin token; each is stopped after the test."""
    stops: list[callable] = []

    def start(**overrides) -> RunningPausa:
        app = make_app(tmp_path / f"pausa-{len(stops)}", **{**OVERRIDES, **overrides})
        with app.app_context():
            _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
        url, stop = serve(app, name="pausa-for-cli")
        stops.append(stop)
        return RunningPausa(app=app, url=url, token=raw, stop=stop)

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def pausa(start_pausa) -> RunningPausa:
    """A real Pausa with the state-change rate limit out of the way."""
    return start_pausa()


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
