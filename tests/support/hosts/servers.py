"""Run a real Pausa and the host apps on free local ports (the embedded gate's tests and bench).

Pausa runs as the Procfile runs it (`gunicorn -c gunicorn.conf.py wsgi:app`) on a
SQLite file, with the background state refresher and no Redis: a host app then
learns a change only through the feed's long poll. Host apps run under real
servers: the Flask one under gunicorn (preloaded, so the gate is built before the
fork), the Django one under gunicorn, the Starlette one under uvicorn.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BIN, ROOT, app_env, flask, free_port, get
from bench.edge_stack import Process

HOSTS_DIR = Path(__file__).resolve().parent
HOST_KINDS = ("flask", "django", "starlette")
ALLOWLIST = "/webhooks"
PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@dataclass
class Running(Process):
    """A server process of ours (its own session, so everything it forked can be killed with it)."""

    env: dict[str, str] = field(default_factory=dict)
    workers: int = 1  # processes answering requests (host apps name theirs in X-Host-Worker)

    def kill(self) -> None:
        """Stop at once: SIGKILL to the whole process group (Pausa's long polls would hold a graceful stop)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def spawn(name: str, port: int, command: list[str], env: Mapping[str, str], workdir: Path, cwd: Path,
          workers: int = 1) -> Running:
    log_path = workdir / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return Running(name, port, process, log_path, dict(env), workers)


def wait_answering(server: Running, path: str = "/", timeout: float = 30.0) -> None:
    """Wait until every worker of a host app answers HTTP (any status: the gate may block `path`)."""
    deadline = time.monotonic() + timeout
    seen = set()
    while time.monotonic() < deadline:
        server.check_alive()
        with contextlib.suppress(OSError):
            seen.add(get(server.port, path, timeout=5.0)[1].get("x-host-worker"))
            if len(seen) >= server.workers:
                return
            continue
        time.sleep(0.05)
    raise RuntimeError(f"{server.name}: {len(seen)} of {server.workers} workers answered in {timeout:.0f} s:\n"
                       f"{server.log_tail()}")


# --- Pausa ---------------------------------------------------------------------------------------------


@dataclass
class Pausa:
    server: Running
    admin_token: str
    gate_token: str

    @property
    def url(self) -> str:
        return self.server.base

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, _, content = get(self.server.port, "/api/admin" + path, headers, method=method, body=data,
                                 timeout=10.0)
        return status, (json.loads(content) if content else {})

    def on(self, **fields) -> dict:
        """Start a window now (default: full, an hour's ETA); return the API's answer."""
        body = {"message": "Embedded gate test window", "reason": "deployment", "eta": "1h", **fields}
        status, data = self.api("POST", "/maintenance", body)
        if status not in (200, 201):
            raise RuntimeError(f"POST /api/admin/maintenance: {status} {data}")
        return data

    def off(self) -> None:
        status, data = self.api("DELETE", "/maintenance")
        if status != 200:
            raise RuntimeError(f"DELETE /api/admin/maintenance: {status} {data}")

    def bypass_link(self) -> str:
        """Make a bypass link for the window in effect; return its path (/_pausa/bypass/<token>)."""
        status, data = self.api("POST", "/maintenance/bypass-links", {"expires": "1h"})
        if status != 201:
            raise RuntimeError(f"POST /api/admin/maintenance/bypass-links: {status} {data}")
        url = data["url"]
        return url[url.index("/_pausa/"):]


def pausa_env(workdir: Path, **extra: str) -> dict[str, str]:
    return app_env(
        f"sqlite:///{workdir / 'pausa.db'}",
        # This checkout's gate first, whatever pausa-gate the environment has installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "gate"), os.environ.get("PYTHONPATH", "")])),
        MAINTENANCE_STATE_REFRESH="background",
        MAINTENANCE_STATE_FILE=str(workdir / "pausa-state.json"),
        MAINTENANCE_ALLOWLIST=ALLOWLIST,
        # One hop (the embedded gate's proxy) in front: its X-Forwarded-For/-Host are believed.
        TRUSTED_PROXY_COUNT="1",
        STATE_CHANGE_RATE_LIMIT="10000 per minute",
        BYPASS_LINK_RATE_LIMIT="10000 per minute",
        GUNICORN_THREADS="16",  # every host app's worker holds one long poll
        **extra,
    )


def prepare_pausa(workdir: Path, **extra: str) -> tuple[dict[str, str], str, str]:
    """Migrate a fresh database and make the two tokens: an admin one (to switch) and a gate one."""
    env = pausa_env(workdir, **extra)
    flask(env, "db", "upgrade")
    admin = flask(env, "tokens", "create", "embedded-admin", "--scope", "admin").strip()
    gate = flask(env, "tokens", "create", "embedded-gate", "--scope", "gate").strip()
    return env, admin, gate


def start_pausa(env: Mapping[str, str], workdir: Path, admin: str, gate: str, port: int | None = None) -> Pausa:
    port = port or free_port()
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": "2", "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics")}
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    server = spawn("pausa", port, command, env, workdir, ROOT)
    deadline = time.monotonic() + 30
    while True:
        server.check_alive()
        with contextlib.suppress(OSError):
            if get(port, "/health/live", timeout=1.0)[0] == 200:
                break
        if time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"Pausa did not start:\n{server.log_tail()}")
        time.sleep(0.1)
    return Pausa(server, admin, gate)


@contextlib.contextmanager
def pausa_running(workdir: Path, **extra: str) -> Iterator[Pausa]:
    env, admin, gate = prepare_pausa(workdir, **extra)
    pausa = start_pausa(env, workdir, admin, gate)
    try:
        yield pausa
    finally:
        pausa.server.kill()


# --- host apps ---------------------------------------------------------------------------------------


def host_env(pausa_url: str, token: str, state_file: Path | None, fail_mode: str | None = None,
             gate: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        # This checkout's gate first, whatever pausa-gate the environment has installed.
        PYTHONPATH=os.pathsep.join(filter(None, [str(HOSTS_DIR), str(ROOT / "gate"), env.get("PYTHONPATH", "")])),
        PYTHONDONTWRITEBYTECODE="1",
        PAUSA_URL=pausa_url,
        PAUSA_TOKEN=token,
        PAUSA_STATE_FILE=str(state_file) if state_file else "",
        PAUSA_FAIL_MODE=fail_mode or "",
        HOST_GATE="on" if gate else "off",
    )
    return env


def host_command(kind: str, port: int, workers: int = 2) -> list[str]:
    bind = f"127.0.0.1:{port}"
    gunicorn = [str(BIN / "gunicorn"), "--bind", bind, "--workers", str(workers), "--worker-class", "gthread",
                "--threads", "4", "--log-level", "warning", "--graceful-timeout", "2"]
    if kind == "flask":
        # Preloaded: the gate is built in the master and starts following in each worker after the fork.
        return [*gunicorn, "--preload", "flask_host:app"]
    if kind == "django":
        return [*gunicorn, "django_host.wsgi:application"]
    if kind == "starlette":
        return [str(BIN / "python"), "-m", "uvicorn", "starlette_host:app", "--host", "127.0.0.1", "--port",
                str(port), "--log-level", "warning"]
    raise ValueError(kind)


def start_host(kind: str, workdir: Path, pausa_url: str, token: str, *, state_file: Path | None = None,
               fail_mode: str | None = None, gate: bool = True, port: int | None = None,
               workers: int = 2) -> Running:
    """Start a host app and wait until it answers; its cwd is `workdir` (no gunicorn.conf.py there)."""
    port = port or free_port()
    env = host_env(pausa_url, token, state_file, fail_mode, gate)
    processes = 1 if kind == "starlette" else workers
    server = spawn(f"{kind}-host", port, host_command(kind, port, workers), env, workdir, workdir, processes)
    try:
        wait_answering(server, "/webhooks/ready")
    except Exception:
        server.kill()
        raise
    return server


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> float:
    """Wait until `condition()` holds; return the seconds it took, or fail naming `what`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout:.1f} s")
        time.sleep(interval)
    return time.monotonic() - started


def probe(server: Running, path: str = "/", headers: Mapping[str, str] | None = None, method: str = "GET",
          body: bytes | None = None) -> tuple[int, str | None]:
    """Send one request on a fresh connection; return its status and the worker that answered."""
    try:
        status, response_headers, _ = get(server.port, path, {**PAGE, **(headers or {})}, method=method,
                                          body=body)
    except OSError:
        return 0, None
    return status, response_headers.get("x-host-worker")


def status_of(server: Running, path: str = "/", headers: Mapping[str, str] | None = None, method: str = "GET",
              body: bytes | None = None) -> int:
    return probe(server, path, headers, method, body)[0]


def settled(server: Running, want: int, path: str = "/", headers: Mapping[str, str] | None = None,
            method: str = "GET", body: bytes | None = None, tries: int = 200) -> bool:
    """Tell whether every worker of the server answers `want` (probes until each one has, or one has not)."""
    seen = set()
    for _ in range(tries):
        status, worker = probe(server, path, headers, method, body)
        if status != want:
            return False
        seen.add(worker)
        if len(seen) >= server.workers:
            return True
    return False


def propagation(server: Running, want: int, started: float, timeout: float = 5.0, path: str = "/") -> float:
    """Seconds from `started` until every worker of the server answers `want` (an upper bound: probed).

    Probes on fresh connections; a worker counts once it answered `want` with no
    older answer after that. The figure is when the last worker was first seen so.
    """
    since: dict[str | None, float] = {}
    while True:
        status, worker = probe(server, path)
        now = time.monotonic()
        if status == want:
            since.setdefault(worker, now)
            if len(since) >= server.workers:
                return max(since.values()) - started
        else:
            since.pop(worker, None)
        if now - started > timeout:
            raise AssertionError(f"{server.name} did not settle on {want} within {timeout:.1f} s: {since}")
