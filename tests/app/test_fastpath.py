"""The WSGI fast path answers exactly what the gate would, and only for anonymous blocks and polls."""

from __future__ import annotations

import re

import pytest
from flask import request_started
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from app.services import tokens as token_service
from tests.support.apps import AuthActions, make_app


def strip_delay(html: str) -> str:
    return re.sub(r"(delay:|content=\")\d+", r"\1N", html)


@pytest.fixture
def cached_app(tmp_path):
    """An app whose state stays fresh for a minute, with a window active and Flask requests counted."""
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0, TRUSTED_PROXY_COUNT=1)
    with app.app_context():
        fields = {"message": "Fast", "eta": "2h", "allowed_roles": ["developer"], "allowed_ips": ["203.0.113.0/24"]}
        maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("t"))
    app.flask_requests = []
    request_started.connect(lambda sender, **extra: app.flask_requests.append(1), app, weak=False)
    return app


def test_anonymous_blocks_share_one_rendering(cached_app):
    client = cached_app.test_client()
    responses = [client.get("/account?x=1") for _ in range(15)]
    assert len(cached_app.flask_requests) <= 3
    flask_made = responses[0]
    for response in responses:
        assert response.status_code == 503
        for name in ("Cache-Control", "X-Maintenance", "Content-Security-Policy", "X-Frame-Options", "Content-Type"):
            assert response.headers[name] == flask_made.headers[name], name
        assert abs(int(response.headers["Retry-After"]) - int(flask_made.headers["Retry-After"])) <= 1
        assert "Accept" in response.headers["Vary"] and "HX-Request" in response.headers["Vary"]
        assert strip_delay(response.get_data(as_text=True)) in {strip_delay(r.get_data(as_text=True)) for r in responses[:3]}
    assert "Fast" in responses[-1].get_data(as_text=True)
    head = client.head("/account")
    assert head.status_code == 503 and head.data == b""


@pytest.mark.parametrize(
    ("label", "request_kwargs", "expected"),
    [
        ("allowed ip via proxy", {"path": "/", "headers": {"X-Forwarded-For": "203.0.113.9"}}, 200),
        ("always allowed path", {"path": "/health/live"}, 200),
        ("json client", {"headers": {"Accept": "application/json"}}, 503),
        ("api path", {"path": "/api/v1/items"}, 503),
        ("htmx request", {"headers": {"HX-Request": "true"}}, 503),
        ("write", {"method": "POST"}, 503),
    ],
)
def test_everything_else_goes_to_flask(cached_app, label, request_kwargs, expected):
    client = cached_app.test_client()
    client.get("/account")  # warm the shared rendering
    path = request_kwargs.pop("path", "/account")
    method = request_kwargs.pop("method", "GET")
    before = len(cached_app.flask_requests)
    response = client.open(path, method=method, **request_kwargs)
    assert response.status_code == expected, label
    if label == "allowed ip via proxy":
        assert "you are bypassing it" in response.get_data(as_text=True)
    if label in ("json client", "api path"):
        assert response.json["error"] == "maintenance"
    if label == "htmx request":
        assert response.headers["HX-Refresh"] == "true"
    assert len(cached_app.flask_requests) == before + 1, f"{label} must be answered by Flask"


def test_signed_in_bypassers_are_never_blocked_by_the_fast_path(cached_app):
    client = cached_app.test_client()
    client.get("/account")  # warm the shared rendering
    AuthActions(client).login("developer")
    page = client.get("/account")
    assert page.status_code == 200
    assert "you are bypassing it" in page.get_data(as_text=True)


def test_bypass_tokens_are_never_blocked_by_the_fast_path(cached_app):
    with cached_app.app_context():
        _, raw = token_service.create_token("smoke", ["bypass"], Actor("t"))
    client = cached_app.test_client()
    client.get("/")  # warm the shared rendering
    assert client.get("/", headers={"Authorization": f"Bearer {raw}"}).status_code == 200


def test_state_change_is_seen_at_once_by_this_worker(cached_app):
    client = cached_app.test_client()
    assert client.get("/").status_code == 503
    with cached_app.app_context():
        maintenance_service.end_window(Actor("t"))
    # The commit invalidated this worker's cache: the fast path must not serve a stale block.
    assert client.get("/").status_code == 200


def test_gate_off_means_nothing_is_blocked_even_by_the_fast_path(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0, MAINTENANCE_GATE=False)
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    client = app.test_client()
    client.get("/maintenance")  # renders and caches the page for this second
    assert client.get("/").status_code == 200
    assert client.get("/").status_code == 200
