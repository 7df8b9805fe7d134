"""The processes of the edge recipes: the sample shop, nginx and Caddy from examples/edge.

Shared by tests/servers/edge and bench/edge.py. Every process runs in a session of its own, is stopped
on the way out whatever happens, and gets SIGTERM if its parent dies (bench.common).
nginx and Caddy run from the example files unchanged: nginx's template is filled by the real
`envsubst` binary, Caddy reads its three variables from the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from bench.common import BIN, ROOT, _die_with_parent, free_port, get, stop

EXAMPLES = ROOT / "examples"
SHOP_DIR = EXAMPLES / "shop"
NGINX_TEMPLATE = EXAMPLES / "edge" / "nginx.conf.template"
CADDYFILE = EXAMPLES / "edge" / "Caddyfile"
# The proxies without the gate, for the benchmark's "without" figures.
PLAIN_NGINX_TEMPLATE = ROOT / "bench" / "edge-plain-nginx.conf.template"
PLAIN_CADDYFILE = ROOT / "bench" / "edge-plain.Caddyfile"
VARIABLES = "$LISTEN_PORT $APP_UPSTREAM $PAUSA_UPSTREAM"


class MissingTool(RuntimeError):
    """A program the edge recipes need is not installed."""


@dataclass
class Process:
    """One running program listening on a local port."""

    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def check_alive(self) -> None:
        """Fail loudly if the program is gone."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} (pid {self.process.pid}) exited {code}:\n{self.log_tail()}")


def binary(name: str, package: str) -> str:
    """Find a program, or fail loudly with how to install it (never skip: a green run must mean tested)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise MissingTool(f"{name} is not installed (apt-get install -y {package}; "
                          "scripts/install-system-packages.sh does it)")
    return found


@contextlib.contextmanager
def running(name: str, command: list[str], port: int, log_path: Path, cwd: Path | None = None,
            env: Mapping[str, str] | None = None, ready: Callable[[int], bool] | None = None,
            timeout: float = 20.0) -> Iterator[Process]:
    """Start `command`, wait until it answers on `port`, yield it, then stop its whole session."""
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=cwd, env=dict(env) if env is not None else None, stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, preexec_fn=_die_with_parent)
    started = Process(name, port, process, log_path)
    try:
        deadline = time.monotonic() + timeout
        while not _answers(port, ready):
            started.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{name} did not answer on port {port} in {timeout:.0f} s:\n{started.log_tail()}"
                )
            time.sleep(0.05)
        yield started
    finally:
        stop(process)


def _answers(port: int, ready: Callable[[int], bool] | None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
        return ready(port) if ready is not None else True
    except OSError:
        return False


@contextlib.contextmanager
def shop(workdir: Path, workers: int = 1, threads: int = 8, poll_seconds: int = 15) -> Iterator[Process]:
    """Run the sample shop as its README says (`gunicorn shop:app` from examples/shop)."""
    port = free_port()
    env = {**os.environ, "SHOP_WATCH_POLL_SECONDS": str(poll_seconds), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [str(BIN / "gunicorn"), "-b", f"127.0.0.1:{port}", "--workers", str(workers),
               "--worker-class", "gthread", "--threads", str(threads), "--access-logfile", "-",
               "shop:app"]
    with running("shop", command, port, workdir / "shop.log", cwd=SHOP_DIR, env=env,
                 ready=lambda port: get(port, "/healthz", timeout=1)[0] == 200) as process:
        yield process


def fill_nginx(template: Path, listen_port: int, app_port: int, pausa_port: int) -> str:
    """Fill an nginx template with the real envsubst, exactly as examples/edge/README.md says."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LISTEN_PORT": str(listen_port),
           "APP_UPSTREAM": f"127.0.0.1:{app_port}", "PAUSA_UPSTREAM": f"127.0.0.1:{pausa_port}"}
    done = subprocess.run([binary("envsubst", "gettext-base"), VARIABLES], input=template.read_text(),
                          env=env, capture_output=True, text=True, check=True)
    return done.stdout


def without_micro_cache(config: str) -> str:
    """Remove the micro-cache from a filled nginx configuration (to measure what it buys)."""
    directive = re.compile(r"^\s*proxy_cache\w*\s[^;]*;\n", re.MULTILINE)
    stripped = directive.sub("", config)
    if stripped == config or directive.search(stripped):
        raise RuntimeError("cannot find the micro-cache directives in the nginx configuration")
    return stripped


@contextlib.contextmanager
def nginx(workdir: Path, app_port: int, pausa_port: int, template: Path = NGINX_TEMPLATE,
          edit: Callable[[str], str] | None = None, name: str = "nginx") -> Iterator[Process]:
    """Run nginx with a filled template in its own prefix directory, in the foreground."""
    executable = binary("nginx", "nginx")
    prefix = workdir / name
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = fill_nginx(template, port, app_port, pausa_port)
    if edit is not None:
        config = edit(config)
    (prefix / "nginx.conf").write_text(config)
    # Started as root, nginx would run its workers as `nobody`, who cannot enter a private temporary
    # directory: keep the workers as the user running the tests.
    options = "daemon off;" + (" user root;" if os.geteuid() == 0 else "")
    command = [executable, "-p", str(prefix), "-c", "nginx.conf", "-g", options]
    with running(name, command, port, prefix / "stdout.log", cwd=prefix) as process:
        yield process


@contextlib.contextmanager
def caddy(workdir: Path, app_port: int, pausa_port: int, caddyfile: Path = CADDYFILE,
          name: str = "caddy") -> Iterator[Process]:
    """Run `caddy run` on a Caddyfile, its three variables in the environment."""
    executable = binary("caddy", "caddy")
    home = workdir / name
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    # Caddy keeps its data and autosaved configuration under the home directory: a private one.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config"),
           "LISTEN_PORT": str(port), "APP_UPSTREAM": f"127.0.0.1:{app_port}",
           "PAUSA_UPSTREAM": f"127.0.0.1:{pausa_port}"}
    command = [executable, "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
    with running(name, command, port, home / "caddy.log", cwd=home, env=env) as process:
        yield process
