"""Pausa under gunicorn for the edge tests, and plain HTTP requests through the proxies (tests/servers/edge).

Pausa runs under the repo's gunicorn.conf.py (2 workers) on a SQLite file of its own, refreshing
its state in the background every 0.25 s, with the shop's webhooks and health check allowlisted
and 127.0.0.1 (the proxies) trusted.
"""

from __future__ import annotations

import contextlib
import http.client
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path

from bench.common import app_env, flask, gunicorn

# A change reaches the edge within this TTL plus nginx's micro-cache (up to the end of a second):
# 0.25 s keeps that inside the tests' 1.5 s budget with a margin.
STATE_TTL = 0.25
ALLOWLIST = "/webhooks,/healthz"
PROXIES = ["nginx", "caddy"]
# How fast the pages react in the browser test: the shop's watch.js and the maintenance page's poll.
POLL_SECONDS = 1


def pausa_env(directory: Path) -> dict[str, str]:
    """The environment of the test Pausa and of its CLI: same database, same settings."""
    return app_env(
        f"sqlite:///{directory / 'pausa.db'}",
        MAINTENANCE_STATE_REFRESH="background",
        MAINTENANCE_STATE_TTL=str(STATE_TTL),
        # Its own snapshot file: the default lives in the repository's instance/ directory.
        MAINTENANCE_STATE_FILE=str(directory / "gate-state.json"),
        MAINTENANCE_ALLOWLIST=ALLOWLIST,
        GATE_TRUSTED_PROXIES="127.0.0.1",
        STATUS_POLL_MIN_SECONDS=str(POLL_SECONDS),
        STATUS_POLL_MAX_SECONDS=str(POLL_SECONDS),
    )


@dataclass
class Pausa:
    """A running Pausa and its CLI."""

    env: dict[str, str]
    port: int
    log_path: Path

    def cli(self, *args: str) -> str:
        return flask(self.env, *args)

    def on(self, *options: str) -> float:
        """Start a window (`flask maintenance on`); return the moment the change was committed."""
        return self.change("maintenance", "on", "--message", "Deploying v2", "--eta", "30m", *options)

    def off(self) -> float:
        """End the window (`flask maintenance off`); return the moment the change was committed."""
        return self.change("maintenance", "off")

    def change(self, *args: str) -> float:
        """Run a CLI command that changes the state; return when its commit moved the state's version.

        The command goes on for a while after its commit (audit, exit): timing from the commit,
        seen in the database itself, is what a visitor would call "the switch".
        """
        database = self.database
        before = state_version(database)
        committed: list[float] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                if state_version(database) != before:
                    committed.append(time.monotonic())
                    return
                time.sleep(0.002)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            self.cli(*args)
            watcher.join(timeout=5)
        finally:
            done.set()
        assert committed, f"flask {' '.join(args)} committed no change"
        return committed[0]

    def window_active(self) -> bool:
        """Tell whether a window is active, from the database (cheaper than the CLI)."""
        return read_one(self.database, "SELECT COUNT(*) FROM maintenance_windows WHERE status = 'active'") > 0

    @property
    def database(self) -> str:
        return self.env["DATABASE_URL"].removeprefix("sqlite:///")

    def bypass_link(self, base_url: str) -> str:
        return self.cli("maintenance", "bypass-link", "--base-url", base_url).strip().splitlines()[0]


def state_version(database: str) -> int:
    """Read the state's version from Pausa's SQLite file."""
    return read_one(database, "SELECT version FROM maintenance_state WHERE id = 1")


def read_one(database: str, query: str) -> int:
    """Run a one-number query on Pausa's SQLite file, read-only (Pausa and its CLI own it)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)) as connection:
        return connection.execute(query).fetchone()[0]


@contextlib.contextmanager
def pausa_process(directory: Path, name: str = "edge-pausa") -> Iterator[Pausa]:
    """Migrate a fresh database and run Pausa under the repo's gunicorn.conf.py (2 workers)."""
    directory.mkdir(parents=True, exist_ok=True)
    env = pausa_env(directory)
    flask(env, "db", "upgrade")
    with gunicorn(name, env, directory, workers=2) as server:
        yield Pausa(env, server.port, server.log_path)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    cookies: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(port: int, path: str, method: str = "GET", headers: Mapping[str, str] | None = None,
            body: bytes | None = None, timeout: float = 10.0, source: str | None = None) -> Response:
    """One request on a fresh connection (from `source`, another loopback address), no redirects followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers={"Connection": "close", **(headers or {})})
        answer = connection.getresponse()
        data = answer.read()
        return Response(
            answer.status,
            {key.lower(): value for key, value in answer.getheaders()},
            data,
            answer.headers.get_all("Set-Cookie") or [],
        )
    finally:
        connection.close()


class CookieJar:
    """The cookies one browser holds for the proxy's host, sent back on every request."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, port: int, path: str, **options) -> Response:
        headers = dict(options.pop("headers", None) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        answer = request(port, path, headers=headers, **options)
        for line in answer.cookies:
            parsed = SimpleCookie()
            parsed.load(line)
            for name, morsel in parsed.items():
                self.cookies[name] = morsel.value
        return answer


def wait_for_status(port: int, path: str, status: int, timeout: float = 10.0, **options) -> float:
    """Wait until `path` answers `status` through the proxy; return when it first did."""
    deadline = time.monotonic() + timeout
    while True:
        answer = request(port, path, **options)
        if answer.status == status:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still answers {answer.status}, not {status}, after {timeout:.0f} s:\n"
                                 f"{answer.text[:500]}")
        time.sleep(0.02)
