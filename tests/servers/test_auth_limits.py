"""Rate limits on failed bearer tokens (per client IP) and on making bypass links (per actor)."""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest
from pausa_gate.state import Actor
from sqlalchemy import event, select

from app.extensions import db
from app.models import BypassLink
from app.services import tokens as token_service
from tests.support.apps import AuthActions, make_app
from tests.support.tcp_proxy import TcpProxy

URL = "/api/admin/maintenance"
LINKS = "/api/admin/maintenance/bypass-links"


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def new_token(app, name: str) -> str:
    with app.app_context():
        return token_service.create_token(name, ["admin"], Actor("cli:test"))[1]


@contextmanager
def token_lookups(app):
    """Collect the SQL statements that read api_tokens while the block runs."""
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if "api_tokens" in statement:
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


@pytest.fixture
def limited_app(tmp_path):
    return make_app(tmp_path, TOKEN_FAILURE_RATE_LIMIT="3 per minute", BYPASS_LINK_RATE_LIMIT="2 per minute")


def test_failed_bearer_tokens_are_limited_per_ip_and_then_cost_no_lookup(limited_app):
    app = limited_app
    good = new_token(app, "deploy")
    client = app.test_client()
    assert [client.get(URL, headers=bearer(f"pausa_guess{n}")).status_code for n in range(3)] == [401] * 3
    with token_lookups(app) as lookups:
        limited = client.get(URL, headers=bearer("pausa_guess4"))
        assert limited.status_code == 429
        assert limited.json["error"] == "rate_limited"
        assert "token attempts" in limited.json["message"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # Once limited, even the right token waits: checking it would cost the lookup again.
        assert client.get(URL, headers=bearer(good)).status_code == 429
        assert lookups == [], "a limited client must not reach the database"
    # Another client IP has its own budget.
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    assert elsewhere.get(URL, headers=bearer(good)).status_code == 200


def test_successes_and_values_that_cost_no_lookup_are_not_counted(limited_app):
    app = limited_app
    good = new_token(app, "deploy")
    client = app.test_client()
    for _ in range(5):
        assert client.get(URL, headers=bearer(good)).status_code == 200
        # Another application's bearer token (no pausa_ prefix) is refused without a query.
        assert client.get(URL, headers=bearer("eyJhbGciOi.other-app")).status_code == 401
    assert client.get(URL, headers=bearer(good)).status_code == 200


def test_a_blocked_page_with_failing_tokens_stops_costing_lookups(limited_app, activate):
    app = limited_app
    activate()
    client = app.test_client()
    assert [client.get("/", headers=bearer(f"pausa_guess{n}")).status_code for n in range(3)] == [503] * 3
    with token_lookups(app) as lookups:
        response = client.get("/", headers=bearer("pausa_guess4"))
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) >= 1
        assert lookups == []


def test_token_failures_are_counted_across_workers_in_redis(tmp_path, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    limits = {"RATELIMIT_STORAGE_URI": redis_url, "TOKEN_FAILURE_RATE_LIMIT": "3 per minute"}
    first = make_app(tmp_path / "first", **limits)
    second = make_app(tmp_path / "second", **limits)
    statuses = [first.test_client().get(URL, headers=bearer(f"pausa_x{n}")).status_code for n in range(2)]
    statuses += [second.test_client().get(URL, headers=bearer(f"pausa_y{n}")).status_code for n in range(2)]
    assert statuses == [401, 401, 401, 429]


def test_token_failures_are_still_limited_when_redis_is_down(tmp_path, redis_url):
    target = urlsplit(redis_url)
    proxy = TcpProxy(target.hostname, target.port)
    try:
        proxied = proxy.url_for(redis_url)
        app = make_app(tmp_path, RATELIMIT_STORAGE_URI=proxied, TOKEN_FAILURE_RATE_LIMIT="3 per minute")
        client = app.test_client()
        proxy.cut()
        statuses = [client.get(URL, headers=bearer(f"pausa_z{n}")).status_code for n in range(4)]
        assert statuses == [401, 401, 401, 429]
    finally:
        proxy.close()


def test_bypass_links_are_limited_per_actor_in_the_api(limited_app, activate):
    app = limited_app
    activate()
    first, second = new_token(app, "deploy"), new_token(app, "other")
    client = app.test_client()
    statuses = [client.post(LINKS, json={}, headers=bearer(first)).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    limited = client.post(LINKS, json={}, headers=bearer(first))
    assert limited.json["error"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert client.post(LINKS, json={}, headers=bearer(second)).status_code == 201
    with app.app_context():
        assert len(db.session.scalars(select(BypassLink)).all()) == 3
    # Reading and revoking are not limited.
    assert client.get(LINKS, headers=bearer(first)).status_code == 200
    assert client.delete(f"{LINKS}/1", headers=bearer(first)).status_code == 200


def test_bypass_links_are_limited_per_admin_in_the_dashboard(limited_app, activate):
    app = limited_app
    activate()
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("admin")
    token = auth.csrf()
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    statuses = [
        client.post("/admin/bypass-links", data={"csrf_token": token}, headers=headers).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    with app.app_context():
        assert len(db.session.scalars(select(BypassLink)).all()) == 2
