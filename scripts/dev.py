"""Run Pausa on a laptop: every process of Procfile.dev, then the first admin's password, last.

`make run` calls this after migrating. Each process's lines are prefixed with its name (like
honcho or foreman); the first admin's password is printed once the web server answers, in a box,
so it is the last thing of the start-up and not lost among its lines. Ctrl-C stops everything;
if one process stops, the others are stopped too, so nothing half-runs unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRINTING = threading.Lock()


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """Return the (name, command) pairs of a Procfile, skipping comments and blank lines."""
    entries = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries.append((name.strip(), command.strip()))
    return entries


def say(text: str) -> None:
    with PRINTING:
        print(text, flush=True)


def relay(name: str, width: int, process: subprocess.Popen) -> None:
    """Copy a process's output, each line prefixed with the process's name."""
    assert process.stdout is not None
    for line in process.stdout:
        say(f"{name.ljust(width)} | {line.rstrip()}")


def wait_until_serving(url: str, processes: dict[str, subprocess.Popen], timeout: float = 60) -> bool:
    """Wait for the web process to answer, or for any process to stop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(process.poll() is not None for process in processes.values()):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (our own http:// URL)
                return True
        except OSError:
            time.sleep(0.2)
    return False


def stop(processes: dict[str, subprocess.Popen]) -> None:
    """Ask every process to stop (SIGTERM to its group), then kill what is left after 10 s."""
    for process in processes.values():
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes.values():
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    environment = dict(os.environ)
    environment.setdefault("FLASK_APP", "wsgi.py")
    environment.setdefault("PORT", "5000")
    environment["PYTHONUNBUFFERED"] = "1"
    bin_directory = Path(sys.executable).parent
    environment["PATH"] = f"{bin_directory}{os.pathsep}{environment.get('PATH', '')}"
    entries = read_procfile(ROOT / "Procfile.dev")
    width = max(len(name) for name, _ in entries)
    processes: dict[str, subprocess.Popen] = {}
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    for name, command in entries:
        processes[name] = subprocess.Popen(  # noqa: S602 (the commands of our own Procfile.dev)
            command, shell=True, cwd=ROOT, env=environment, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        threading.Thread(target=relay, args=(name, width, processes[name]), daemon=True).start()

    url = f"http://127.0.0.1:{environment['PORT']}"
    if wait_until_serving(f"{url}/health/live", processes):
        time.sleep(0.3)  # let the servers' own start-up lines out first
        bootstrap = subprocess.run(  # noqa: S603 (our own flask command)
            [str(bin_directory / "flask"), "users", "bootstrap"], cwd=ROOT, env=environment,
            capture_output=True, text=True,
        )
        say(bootstrap.stdout.rstrip() + bootstrap.stderr.rstrip())
        names = " and ".join(processes)
        say(f"Pausa is running ({names}): {url}/admin — Ctrl-C stops everything.")

    code = 0
    while not stopping.is_set():
        ended = [name for name, process in processes.items() if process.poll() is not None]
        if ended:
            code = processes[ended[0]].returncode or 1
            say(f"{ended[0]} stopped (exit {processes[ended[0]].returncode}); stopping the others.")
            break
        time.sleep(0.2)
    stop(processes)
    return code


if __name__ == "__main__":
    sys.exit(main())
