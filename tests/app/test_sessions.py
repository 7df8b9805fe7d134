"""Sessions end on the server: logout, sign out everywhere, password and role changes, copied cookies."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow, User
from tests.support.apps import PASSWORD, USERS, AuthActions

COOKIE = "pausa_session"


def saved_cookie(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "not signed in"
    return cookie.value


def client_with(app, cookie: str, **environ):
    """A second browser that replays a saved session cookie."""
    other = app.test_client()
    other.environ_base.update(environ)
    other.set_cookie(COOKIE, cookie)
    return other


def entries(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_cookie_saved_before_logout_opens_nothing_after_it(app, client, auth):
    auth.login("admin")
    csrf = auth.csrf()
    saved = saved_cookie(client)
    assert client_with(app, saved).get("/admin").status_code == 200
    assert client.post("/auth/logout", data={"csrf_token": csrf}).status_code == 302

    replay = client_with(app, saved)
    page = replay.get("/admin")
    assert page.status_code == 302 and page.headers["Location"].startswith("/auth/login")
    # The saved cookie also holds a valid CSRF token: the API must still refuse it.
    response = replay.post("/api/admin/maintenance", json={}, headers={"X-CSRFToken": csrf})
    assert response.status_code == 401
    with app.app_context():
        assert db.session.query(MaintenanceWindow).count() == 0
    logout = entries(app, "auth.logout")
    assert [entry.actor for entry in logout] == ["admin@example.com"]
    assert logout[0].target == "user:admin@example.com"


def test_a_remember_me_cookie_never_brings_a_session_back(app, client, auth):
    from flask_login.utils import encode_cookie

    auth.login("admin")
    saved = saved_cookie(client)
    client.post("/auth/logout", data={"csrf_token": auth.csrf()})
    with app.test_request_context(), app.app_context():
        admin_id = db.session.scalar(select(User.id).where(User.email == USERS["admin"]))
        remember = encode_cookie(str(admin_id))
    fresh = app.test_client()
    fresh.set_cookie("pausa_remember", remember)
    assert fresh.get("/admin").status_code == 302
    replay = client_with(app, saved)
    replay.set_cookie("pausa_remember", remember)
    assert replay.get("/admin").status_code == 302


def test_sign_out_everywhere_on_the_dashboard_ends_every_session(app, client, auth):
    auth.login("admin")
    laptop = app.test_client()
    AuthActions(laptop).login("admin")
    assert laptop.get("/admin").status_code == 200
    page = client.get("/admin").get_data(as_text=True)
    assert 'action="/auth/sign-out-everywhere"' in page

    # Without the CSRF token nothing happens.
    assert client.post("/auth/sign-out-everywhere").status_code == 400
    assert laptop.get("/admin").status_code == 200

    response = client.post("/auth/sign-out-everywhere", data={"csrf_token": auth.csrf()})
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"
    assert client.get("/admin").status_code == 302
    assert laptop.get("/admin").status_code == 302
    revoked = entries(app, "auth.sessions_revoked")
    assert len(revoked) == 1
    assert revoked[0].details == {"reason": "sign_out_everywhere", "sessions": 2}
    assert revoked[0].actor == "admin@example.com"


def test_any_signed_in_user_can_sign_out_everywhere_from_the_account_page(app, client, auth):
    auth.login("user")
    page = client.get("/account").get_data(as_text=True)
    assert 'action="/auth/sign-out-everywhere"' in page
    client.post("/auth/sign-out-everywhere", data={"csrf_token": auth.csrf("/account")})
    assert client.get("/account").status_code == 302


def test_a_password_change_ends_every_session(app, client, auth, runner):
    auth.login("qa")
    assert client.get("/account").status_code == 200
    result = runner.invoke(args=["users", "set-password", USERS["qa"], "--password", "a brand new secret"])
    assert result.exit_code == 0, result.output
    assert client.get("/account").status_code == 302
    assert auth.login("qa").status_code == 401
    assert auth.login("qa", password="a brand new secret").status_code == 302
    revoked = entries(app, "auth.sessions_revoked")
    assert revoked[0].details == {"reason": "password_changed", "sessions": 1}
    assert [entry.actor for entry in entries(app, "user.password_changed")] == ["cli:tester"]
    assert "a brand new secret" not in str([entry.details for entry in entries(app, "user.password_changed")])


def test_a_role_change_ends_every_session(app, client, auth, runner):
    auth.login("developer")
    assert runner.invoke(args=["users", "set-role", USERS["developer"], "admin"]).exit_code == 0
    # Even the new, higher role needs a fresh sign-in.
    assert client.get("/admin").status_code == 302
    revoked = entries(app, "auth.sessions_revoked")
    assert revoked[0].details == {"reason": "role_changed", "sessions": 1}


def test_cli_sign_out_everywhere_exit_codes(app, client, auth, runner):
    auth.login("qa")
    result = runner.invoke(args=["users", "sign-out-everywhere", USERS["qa"]])
    assert result.exit_code == 0, result.output
    assert "1 session ended" in result.output
    assert client.get("/account").status_code == 302
    assert entries(app, "auth.sessions_revoked")[0].actor == "cli:tester"

    unknown = runner.invoke(args=["users", "sign-out-everywhere", "nobody@example.com"])
    assert unknown.exit_code == 1 and "No user" in unknown.output
    malformed = runner.invoke(args=["users", "sign-out-everywhere", "not an email"])
    assert malformed.exit_code == 2
    assert len(entries(app, "auth.sessions_revoked")) == 1


def test_an_admin_cookie_replayed_from_another_client_ends_the_session(app, client, auth):
    client.environ_base["HTTP_USER_AGENT"] = "Firefox/140"
    auth.login("admin")
    saved = saved_cookie(client)
    assert client.get("/admin").status_code == 200

    thief = client_with(app, saved, HTTP_USER_AGENT="curl/8.5")
    assert thief.get("/admin").status_code == 302
    # The session is dead for the copy and the original alike: a stolen cookie is worth nothing.
    assert client.get("/admin").status_code == 302
    revoked = entries(app, "auth.session_revoked")
    assert len(revoked) == 1
    assert revoked[0].details["reason"] == "client_changed"
    assert revoked[0].user_agent == "curl/8.5"
    from app.models import UserSession

    with app.app_context():
        assert db.session.scalar(select(UserSession.revoked_reason)) == "client_changed"


def test_an_admin_session_is_bound_to_the_client_ip(app, client, auth):
    auth.login("admin")
    moved = client_with(app, saved_cookie(client), REMOTE_ADDR="203.0.113.9")
    assert moved.get("/api/admin/maintenance").status_code == 401
    assert client.get("/admin").status_code == 302


def test_other_roles_keep_their_session_when_the_client_changes(app, client, auth):
    auth.login("qa")
    roaming = client_with(app, saved_cookie(client), REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Phone/2")
    assert roaming.get("/account").status_code == 200
    assert entries(app, "auth.session_revoked") == []


def test_only_the_key_hash_is_stored(app, client, auth):
    from app.models import UserSession

    auth.login("user")
    with app.test_request_context():
        from flask import current_app

        serializer = current_app.session_interface.get_signing_serializer(current_app)
        raw = serializer.loads(saved_cookie(client))["pausa_sid"]
    with app.app_context():
        stored = db.session.scalar(select(UserSession.key_hash))
    assert raw not in stored and len(stored) == 64
    assert PASSWORD not in stored
