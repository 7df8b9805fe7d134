"""`make run` starts everything a newcomer needs, and the first admin's password is not missed."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_make_run_starts_web_and_worker_and_prints_the_password_last(tmp_path, free_tcp_port):
    environment = {
        **os.environ, "FLASK_APP": "wsgi.py", "PORT": str(free_tcp_port),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}", "PAUSA_ENV": "development",
    }
    flask = str(Path(sys.executable).parent / "flask")
    subprocess.run([flask, "db", "upgrade"], cwd=ROOT, env=environment, check=True, capture_output=True)
    launcher = subprocess.Popen(
        [sys.executable, "scripts/dev.py"], cwd=ROOT, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(launcher.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not any("Pausa is running" in line for line in lines) and time.monotonic() < deadline:
            assert launcher.poll() is None, "".join(lines)
            time.sleep(0.2)
        output = "".join(lines)
        assert "Pausa is running (web and worker)" in output, output
        start_up = output[: output.index("Pausa is running")]
        box = start_up[start_up.index("+---"):]
        # The box is the last of the start-up: no server line comes between it and "running".
        assert "web " not in box and "worker " not in box, box
        assert "password:" in box and "shown only once" in box and "flask users set-password" in box
        password = box.split("password:")[1].split("|")[0].strip()
        assert len(password) >= 16
        # The worker runs too: its heartbeat is in the database within a few seconds.
        deadline = time.monotonic() + 20
        beats = 0
        while not beats and time.monotonic() < deadline:
            with sqlite3.connect(tmp_path / "dev.db") as connection:
                beats = connection.execute("SELECT count(*) FROM worker_heartbeats").fetchone()[0]
            time.sleep(0.3)
        assert beats >= 1
    finally:
        os.killpg(launcher.pid, signal.SIGINT)
        code = launcher.wait(20)
    assert code == 0
    # Ctrl-C stopped both: nothing answers on the port any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", free_tcp_port), timeout=2)
