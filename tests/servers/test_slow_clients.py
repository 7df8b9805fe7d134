"""Slow clients cannot take the site down behind the shipped nginx (issue 10).

Real processes: gunicorn with the repo's gunicorn.conf.py (2 gthread workers,
GUNICORN_THREADS=8) and nginx with deploy/nginx/pausa.conf.template, run as a
child of the test with its own prefix and temporary directories. Many more
clients than workers x threads each send a webhook body at 1 byte a second:
behind nginx, /health/live and a normal page still answer at once; against
gunicorn alone, workers x threads such clients pin every thread, which is why
docs/deploy.md says to run behind the proxy. Fails, never skips, when nginx is
not installed. About 25 s.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Config
from bench.common import ROOT, app_env, free_port, get, gunicorn
from tests.support.apps import make_app

TEMPLATE = ROOT / "deploy" / "nginx" / "pausa.conf.template"
HEROKU_TEMPLATE = ROOT / "config" / "nginx.conf.erb"
WORKERS, THREADS = 2, 8
SLOW_CLIENTS = 64
BOUND = 0.5  # seconds: what a load balancer's health check or a visitor may wait


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        pytest.fail("nginx is not installed (apt-get install -y nginx): the front-proxy tests need it")
    return found


def fill(template: str, values: dict[str, str]) -> str:
    """Fill ${PAUSA_...} as `envsubst '${PAUSA_LISTEN} ${PAUSA_UPSTREAM}'` does, leaving nginx's $variables."""
    return re.sub(r"\$\{(PAUSA_[A-Z_]+)\}", lambda match: values[match.group(1)], template)


def erb(template: str, env: dict[str, str]) -> str:
    """Render the few `<%= ENV["NAME"] || default %>` forms config/nginx.conf.erb uses, as Ruby's erb does."""

    def value(match: re.Match) -> str:
        default = match.group(2)
        return env.get(match.group(1)) or (default.strip().strip('"') if default else "")

    return re.sub(r'<%= ENV\["([A-Z_]+)"\](?: \|\| ([^%]+))? %>', value, template)


@contextlib.contextmanager
def nginx(directory: Path, upstream_port: int) -> Iterator[int]:
    """Run nginx in the foreground with the shipped server block, on a free port, inside `directory`."""
    binary = nginx_binary()
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    server = directory / "pausa.conf"
    server.write_text(fill(TEMPLATE.read_text(), {
        "PAUSA_LISTEN": f"127.0.0.1:{port}", "PAUSA_UPSTREAM": f"127.0.0.1:{upstream_port}",
    }))
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(exist_ok=True)
    main = directory / "nginx.conf"
    main.write_text(f"""
daemon off;
worker_processes 1;
pid {directory / 'nginx.pid'};
error_log {directory / 'error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp['body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
    include {server};
}}
""")
    process = subprocess.Popen(
        [binary, "-p", str(directory), "-c", str(main), "-e", str(directory / "error.log")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited {process.returncode}: {process.stdout.read().decode()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            assert time.monotonic() < deadline, "nginx did not start listening"
            time.sleep(0.05)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SlowClients:
    """Connections that each send a webhook's headers, then its body at 1 byte a second."""

    def __init__(self, port: int, count: int, body_length: int = 10_000):
        self.port = port
        self.sockets: list[socket.socket] = []
        self.stopped = threading.Event()
        self.head = (
            "POST /webhooks/stripe HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Stripe-Signature: t=1,v1=00\r\nContent-Length: {body_length}\r\n\r\n"
        ).encode()
        self.add(count)
        self.thread = threading.Thread(target=self._drip, daemon=True)
        self.thread.start()

    def add(self, count: int) -> None:
        """Open `count` more slow connections."""
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            sock.sendall(self.head + b"{")
            self.sockets.append(sock)

    def _drip(self) -> None:
        while not self.stopped.wait(1.0):
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.sendall(b" ")

    def still_waiting(self) -> int:
        """How many connections are still open with no answer: held, not refused or cut."""
        waiting = 0
        for sock in self.sockets:
            sock.setblocking(False)
            try:
                sock.recv(1)  # an answer, or b"" for a closed connection: not waiting any more
            except BlockingIOError:
                waiting += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return waiting

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def timed_get(port: int, path: str, timeout: float) -> tuple[int | None, float]:
    """GET one path on a fresh connection; the status (None on a timeout) and the seconds it took."""
    started = time.monotonic()
    try:
        status, _, _ = get(port, path, timeout=timeout)
    except (TimeoutError, OSError):
        status = None
    return status, time.monotonic() - started


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """gunicorn (the repo's gunicorn.conf.py, 2 workers x 8 threads) on a fresh SQLite database."""
    directory = tmp_path_factory.mktemp("site")
    database = f"sqlite:///{directory / 'pausa.db'}"
    make_app(directory, database_url=database)
    env = app_env(database, STRIPE_WEBHOOK_SECRETS="whsec_slow", GUNICORN_THREADS=str(THREADS),
                  TRUSTED_PROXY_COUNT="1")
    with gunicorn("slow", env, directory, workers=WORKERS) as server:
        yield server


def test_behind_nginx_many_slow_clients_cost_nothing(site, tmp_path):
    with nginx(tmp_path / "nginx", site.port) as port:
        assert timed_get(port, "/health/live", 5)[0] == 200
        slow = SlowClients(port, SLOW_CLIENTS)
        try:
            time.sleep(2.5)  # every slow client is past its headers and dripping its body
            timings: dict[str, list[float]] = {"/health/live": [], "/": []}
            for _ in range(10):
                for path, seconds in timings.items():
                    status, took = timed_get(port, path, timeout=5)
                    assert status == 200, path
                    seconds.append(took)
                time.sleep(0.2)
            assert slow.still_waiting() == SLOW_CLIENTS  # held by nginx the whole time, none cut off
            worst = {path: max(seconds) for path, seconds in timings.items()}
            print(f"behind nginx with {SLOW_CLIENTS} slow clients: worst /health/live "
                  f"{worst['/health/live'] * 1000:.0f} ms, worst / {worst['/'] * 1000:.0f} ms")
            assert all(took < BOUND for took in worst.values()), worst
        finally:
            slow.close()


def test_a_few_slow_requests_leave_gunicorn_answering(site):
    """Threads: as many slow requests as there are workers no longer take every worker."""
    assert timed_get(site.port, "/health/live", 5)[0] == 200
    slow = SlowClients(site.port, WORKERS * 2)
    try:
        time.sleep(1.0)
        probes = [timed_get(site.port, "/health/live", timeout=2) for _ in range(5)]
        assert all(status == 200 and took < BOUND for status, took in probes), probes
    finally:
        slow.close()


def held_per_worker(master: int, port: int) -> dict[int, int]:
    """Count, per gunicorn worker, the established connections to `port` it holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "01" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 01: established
                inodes.add(f"socket:[{fields[9]}]")
    counts = {}
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        links = []
        for descriptor in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                links.append(str(descriptor.readlink()))
        counts[int(pid)] = sum(link in inodes for link in links)
    return counts


def test_gunicorn_alone_is_pinned_by_workers_times_threads_slow_clients(site):
    assert timed_get(site.port, "/health/live", 5)[0] == 200
    slow = SlowClients(site.port, 0)
    try:
        # The kernel hands connections to the workers unevenly: an attacker just opens more,
        # until every worker holds as many slow clients as it has threads.
        held = held_per_worker(site.process.pid, site.port)
        while min(held.values()) < THREADS:
            assert len(slow.sockets) < 256, held
            slow.add(4)
            time.sleep(0.1)
            held = held_per_worker(site.process.pid, site.port)
        assert len(held) == WORKERS
        time.sleep(1.0)
        probes = [timed_get(site.port, "/health/live", timeout=1.5) for _ in range(4)]
        print(f"gunicorn alone: {len(slow.sockets)} slow clients ({held} per worker) "
              f"-> /health/live probes {[(status, round(took, 2)) for status, took in probes]}")
        assert all(status is None for status, _ in probes), probes
    finally:
        slow.close()
    # Once they are gone, it answers again: nothing was broken, only every thread was taken.
    deadline = time.monotonic() + 15
    while timed_get(site.port, "/health/live", timeout=1)[0] != 200:
        assert time.monotonic() < deadline, "gunicorn did not recover after the slow clients left"


def test_the_proxy_limits_bodies_like_the_app():
    template = TEMPLATE.read_text() + HEROKU_TEMPLATE.read_text()
    sizes = re.findall(r"client_max_body_size (\d+)m;", template)
    assert sizes and all(int(size) * 1024 * 1024 == Config.MAX_CONTENT_LENGTH for size in sizes)
    for required in ("proxy_request_buffering on;", "client_body_timeout 10s;", "client_header_timeout 10s;"):
        assert template.count(required) == 2, required


def test_the_heroku_nginx_config_is_valid(tmp_path):
    rendered = erb(HEROKU_TEMPLATE.read_text(), {
        "PORT": str(free_port()), "NGINX_TEMP_DIR": str(tmp_path),
        "NGINX_ACCESS_LOG_PATH": str(tmp_path / "access.log"), "NGINX_ERROR_LOG_PATH": str(tmp_path / "error.log"),
    })
    assert "<%" not in rendered
    config = tmp_path / "nginx.conf"
    config.write_text(rendered)
    done = subprocess.run([nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(config),
                           "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
