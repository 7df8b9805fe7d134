"""Time bounds on every PostgreSQL wait, so a hung database can never hold a request or a thread.

PostgreSQL's own `statement_timeout` only helps while the server still runs
its clock; a server that accepts connections and never answers (a stopped
process, a dead network path) would hold the caller forever. Each connection
is therefore a `BoundedConnection`, whose every wait for the server has a
client-side deadline: past it, the connection is dropped (the pool replaces
it) and the caller gets an OperationalError, which pages answer with 503.
See docs/configuration.md for the settings.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
from flask import Flask
from psycopg import errors as psycopg_errors
from sqlalchemy import event

# Beyond the server's statement_timeout, how long the client waits for the server's own cancellation.
CLIENT_GRACE_SECONDS = 1.0

_override = threading.local()


class BoundedConnection(psycopg.Connection):
    """A psycopg connection whose waits for the server end at a deadline."""

    wait_seconds: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        bound = getattr(_override, "seconds", None) or self.wait_seconds
        if timeout is None and bound:
            timeout = bound
        try:
            return super().wait(gen, interval=interval, timeout=timeout)
        except psycopg_errors._WaitTimeout:
            # The protocol state is unknown: the connection cannot be reused. A closed
            # connection makes SQLAlchemy treat this as a disconnect and refill the pool.
            self.pgconn.finish()
            raise psycopg.OperationalError(
                f"the database did not answer within {timeout:g} s (connection dropped)"
            ) from None


@contextlib.contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Wait at most `seconds` for the server within this block, on this thread (health checks)."""
    previous = getattr(_override, "seconds", None)
    _override.seconds = seconds
    try:
        yield
    finally:
        _override.seconds = previous


def bound_engine_options(app: Flask) -> None:
    """Add the connect and pool bounds to the engine options (PostgreSQL only)."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    connect = app.config["DATABASE_CONNECT_TIMEOUT"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if connect > 0:
        connect_args = dict(options.get("connect_args") or {})
        # libpq counts whole seconds and never less than 2.
        connect_args.setdefault("connect_timeout", max(2, int(round(connect))))
        options["connect_args"] = connect_args
        options.setdefault("pool_timeout", connect)  # the wait for a free pooled connection too
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def bound_connections(app: Flask, engine: Any) -> None:
    """Make every new PostgreSQL connection bounded; ask the server to cancel long statements too."""
    if engine.dialect.name != "postgresql":
        return
    statement = app.config["DATABASE_STATEMENT_TIMEOUT"]
    connection_class = type(
        "BoundedConnection",
        (BoundedConnection,),
        {"wait_seconds": statement + CLIENT_GRACE_SECONDS if statement > 0 else None},
    )

    @event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: tuple, cparams: dict) -> Any:
        shorter = getattr(_override, "seconds", None)
        if shorter:  # a health check opening a connection: its own bound (libpq: whole seconds, >= 2)
            cparams["connect_timeout"] = max(2, math.ceil(shorter))
        if statement > 0:
            setting = f"-c statement_timeout={int(statement * 1000)}"
            cparams["options"] = f"{cparams['options']} {setting}" if cparams.get("options") else setting
        return connection_class.connect(*cargs, **cparams)
