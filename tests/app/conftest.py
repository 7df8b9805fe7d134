"""The app layer: Flask's test client on SQLite (or TEST_DATABASE_URL), no server started."""

from tests.support.fixtures import (  # noqa: F401  (fixtures, scoped to this directory by being here)
    _dispose_engines,
    activate,
    app,
    auth,
    client,
    postgres_url,
    redis_url,
    runner,
    sql_counter,
)
