"""The servers layer: real processes and servers (gunicorn, nginx, Caddy, PostgreSQL, Redis, the pausa CLI).

A missing server fails these tests, never skips them (tests/support/services.py).
"""

from tests.support.fixtures import (  # noqa: F401  (fixtures, scoped to this directory by being here)
    _dispose_engines,
    activate,
    app,
    auth,
    client,
    fake,
    mailing_pg_app,
    postgres_url,
    redis_url,
    runner,
    sql_counter,
)
