"""Redis pub/sub, rate-limit fallback and faults, against the real PostgreSQL and Redis."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app import create_app
from app.gate.notifier import NOTIFIER_KEY
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from tests.support.apps import AuthActions, make_app
from tests.support.tcp_proxy import TcpProxy


def wait_until(condition, timeout: float, step: float = 0.01) -> float:
    """Poll `condition` until true; return how long it took, or fail after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    raise AssertionError(f"not true within {timeout} s")


def activate_in(app, **fields):
    with app.app_context():
        maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("cli:test"))


def end_in(app):
    with app.app_context():
        maintenance_service.end_window(Actor("cli:test"))


def second_instance(first, **overrides):
    """Another process's app on the same database, as a second dyno would have."""
    config = {"SQLALCHEMY_DATABASE_URI": first.config["SQLALCHEMY_DATABASE_URI"], **overrides}
    other = create_app(config)
    from tests.support.apps import _CREATED_APPS

    _CREATED_APPS.append(other)
    return other


def listening(app) -> None:
    """Make the app's worker start its listener (first request) and wait until it subscribed."""
    app.test_client().get("/health/live")
    assert app.extensions[NOTIFIER_KEY].subscribed.wait(5), "the listener never subscribed"


def test_pubsub_invalidates_other_instances_at_once(tmp_path, redis_url):
    # A TTL of a minute: only the pub/sub message can make the second instance notice in time.
    first = make_app(tmp_path, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    second = second_instance(first, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    without_redis = second_instance(first, MAINTENANCE_STATE_TTL=60.0)
    listening(second)
    client, control = second.test_client(), without_redis.test_client()
    assert client.get("/").status_code == 200
    assert control.get("/").status_code == 200

    activate_in(first, message="from another dyno")
    took = wait_until(lambda: client.get("/").status_code == 503, timeout=5.0)
    # The TTL is a minute: only the pub/sub message explains a change within seconds.
    assert took < 5.0
    assert control.get("/").status_code == 200, "without Redis the TTL still rules"

    end_in(first)
    wait_until(lambda: client.get("/").status_code == 200, timeout=1.0)


def test_toggle_through_the_api_reaches_the_other_instance(tmp_path, redis_url):
    from app.services import tokens as token_service

    first = make_app(tmp_path, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    second = second_instance(first, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    listening(second)
    with first.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("t"))
    api, site = first.test_client(), second.test_client()
    assert site.get("/").status_code == 200
    headers = {"Authorization": f"Bearer {raw}"}
    assert api.post("/api/admin/maintenance", json={}, headers=headers).status_code == 201
    wait_until(lambda: site.get("/").status_code == 503, timeout=1.0)
    assert api.delete("/api/admin/maintenance", headers=headers).status_code == 200
    wait_until(lambda: site.get("/").status_code == 200, timeout=1.0)


def test_redis_down_falls_back_silently_and_logs_once(tmp_path, redis_url, caplog):
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname, target.port)
    try:
        proxied = proxy.url_for(redis_url)
        app = make_app(
            tmp_path, REDIS_URL=proxied, RATELIMIT_STORAGE_URI=proxied, MAINTENANCE_STATE_TTL=0.2,
            LOGIN_RATE_LIMIT="3 per minute",
        )
        other = second_instance(app, MAINTENANCE_STATE_TTL=0.2)
        listening(app)
        client = app.test_client()
        assert client.get("/").status_code == 200
        proxy.cut()
        caplog.set_level(logging.WARNING)
        for _ in range(3):
            assert client.get("/").status_code == 200
        # State changes still propagate through the TTL, and the publisher does not fail.
        activate_in(other)
        wait_until(lambda: client.get("/").status_code == 503, timeout=2.0)
        end_in(app)  # publishing with Redis down must not raise
        wait_until(lambda: client.get("/").status_code == 200, timeout=2.0)
        # Login limits keep working from memory: no 500, the fourth attempt is refused.
        auth = AuthActions(client)
        statuses = [auth.login("admin", password=f"wrong-{n}").status_code for n in range(4)]
        assert statuses == [401, 401, 401, 429]
        redis_warnings = [r for r in caplog.records if "Redis" in r.getMessage() or "storage" in r.getMessage()]
        assert 1 <= len([r for r in redis_warnings if r.name == "app.gate.notifier"]) <= 2
        proxy.restore()
    finally:
        proxy.close()


@pytest.fixture
def proxied_postgres_app(tmp_path, postgres_url):
    """An app whose PostgreSQL connections go through a proxy the test can cut."""
    target = urlsplit(postgres_url.replace("postgresql+psycopg", "postgresql"))
    proxy = TcpProxy(target.hostname, target.port or 5432)
    app = make_app(
        tmp_path, database_url=proxy.url_for(postgres_url), MAINTENANCE_STATE_TTL=0.0,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}},
    )
    yield app, proxy
    proxy.close()


def test_database_cut_keeps_last_state_and_recovers(proxied_postgres_app):
    """PostgreSQL cut mid-traffic: the gate keeps enforcing, pages fail cleanly, health says why."""
    app, proxy = proxied_postgres_app
    activate_in(app, message="kept through the outage", eta="1h")
    client, admin = app.test_client(), app.test_client()
    AuthActions(admin).login("admin")
    assert client.get("/").status_code == 503

    proxy.cut()
    blocked = client.get("/account")
    assert blocked.status_code == 503
    assert "kept through the outage" in blocked.get_data(as_text=True)
    assert blocked.headers["X-Maintenance"] == "active"
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json["checks"]["database"]["ok"] is False
    assert ready.json["checks"]["maintenance_state"]["ok"] is False
    assert client.get("/health/live").status_code == 200
    # The dashboard needs the database: a clear 503 page, never a stack trace.
    dashboard = admin.get("/admin")
    assert dashboard.status_code == 503
    assert "Temporarily unavailable" in dashboard.get_data(as_text=True)
    assert "Traceback" not in dashboard.get_data(as_text=True)

    proxy.restore()
    wait_until(lambda: client.get("/health/ready").status_code == 200, timeout=10.0, step=0.2)
    assert admin.get("/admin").status_code == 200
    end_in(app)
    assert client.get("/").status_code == 200


def test_pages_that_need_the_database_fail_with_a_clear_503(proxied_postgres_app):
    app, proxy = proxied_postgres_app
    client = app.test_client()
    assert client.get("/api/v1/items").status_code == 200
    proxy.cut()
    items = client.get("/api/v1/items")
    assert items.status_code == 503
    assert items.json["error"] == "unavailable"
    assert items.headers["Retry-After"] == "30"
    assert "X-Maintenance" not in items.headers  # an outage, not planned maintenance
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 200  # needs no database
    proxy.restore()
    wait_until(lambda: client.get("/api/v1/items").status_code == 200, timeout=10.0, step=0.2)


def test_a_worker_that_only_answers_blocked_requests_still_subscribes(tmp_path, redis_url):
    app = make_app(tmp_path, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    activate_in(app)
    assert app.test_client().get("/").status_code == 503
    assert app.extensions[NOTIFIER_KEY].subscribed.wait(5), "a blocked request must start the listener"
