"""Signing in and out, guards, and redirects that cannot be abused."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import AuditEntry
from tests.support.apps import PASSWORD


def test_login_page(client):
    response = client.get("/auth/login")
    assert response.status_code == 200
    assert 'name="csrf_token"' in response.get_data(as_text=True)


def test_admin_login_lands_on_dashboard(client, auth):
    response = auth.login("admin")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"


def test_login_then_next(client, auth):
    page = client.get("/account")
    assert page.status_code == 302
    assert "/auth/login?next=/account" in page.headers["Location"]
    from tests.support.apps import csrf_from

    token = csrf_from(client.get("/auth/login?next=/account").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"email": "user@example.com", "password": PASSWORD, "csrf_token": token, "next": "/account"},
    )
    assert response.headers["Location"] == "/account"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)", "\\\\evil"],
)
def test_no_open_redirect(client, target):
    from tests.support.apps import csrf_from

    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(
        "/auth/login",
        data={"email": "user@example.com", "password": PASSWORD, "csrf_token": token, "next": target},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_same_answer_for_unknown_and_known_users(app, client, auth):
    wrong_password = auth.login("admin", password="not the password")
    unknown_user = auth.login("nobody@example.com")
    assert wrong_password.status_code == unknown_user.status_code == 401
    for response in (wrong_password, unknown_user):
        assert "The email or password is not right." in response.get_data(as_text=True)
    with app.app_context():
        failures = db.session.query(AuditEntry).filter_by(action="auth.login_failed").all()
        assert len(failures) == 2
        assert all(entry.ip == "127.0.0.1" for entry in failures)


def test_login_needs_csrf(client):
    response = client.post("/auth/login", data={"email": "admin@example.com", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin").status_code == 302


def test_login_attempts_are_rate_limited(client, auth):
    statuses = [auth.login("admin", password=f"wrong-{attempt}").status_code for attempt in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # Even the right password waits: the limit is per client, not per answer.
    assert auth.login("admin").status_code == 429


def test_logout_is_a_post(client, auth):
    auth.login("admin")
    assert client.get("/auth/logout").status_code == 405
    token = auth.csrf()
    response = client.post("/auth/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/admin").status_code == 302


def test_non_admin_is_denied_and_audited(app, client, auth):
    auth.login("qa")
    response = client.get("/admin")
    assert response.status_code == 403
    assert "Not allowed" in response.get_data(as_text=True)
    assert client.get("/admin/audit").status_code == 403
    with app.app_context():
        denied = db.session.query(AuditEntry).filter_by(action="admin.denied").all()
        # Once per user per interval (tests/app/test_admin_events.py), not once per request.
        assert [entry.target for entry in denied] == ["/admin"]


def test_htmx_request_without_session_gets_hx_redirect(client):
    response = client.get(
        "/admin/status-card",
        headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/admin?tab=1"},
    )
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/auth/login?next=/admin?tab%3D1"
    assert "Location" not in response.headers
