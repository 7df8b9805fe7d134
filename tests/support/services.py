"""The real PostgreSQL and Redis servers some tests are about: they fail, never skip, when one is down."""

from __future__ import annotations

import os

import pytest
import redis
from sqlalchemy import create_engine, text

from app.config import database_url

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def require_postgres(url: str = POSTGRES_URL) -> str:
    """Return the PostgreSQL server's URL as the app spells it; fail the test loudly if it is down."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:
        pytest.fail(f"PostgreSQL is not reachable at {url} (set TEST_POSTGRES_URL): {error}")
    finally:
        engine.dispose()
    return database_url(url)


def require_redis(url: str = REDIS_URL) -> str:
    """Return the Redis server's URL; fail the test loudly if it is down."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except Exception as error:
        pytest.fail(f"Redis is not reachable at {url} (set TEST_REDIS_URL): {error}")
    finally:
        client.close()
    return url
