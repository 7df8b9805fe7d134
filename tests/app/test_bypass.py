"""Bypass links: a signed cookie lets a tester through one window, until it ends or the link is revoked."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import request_started
from pausa_gate import cookies
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, BypassLink, MaintenanceWindow
from app.services import bypass as bypass_service
from app.services import maintenance as maintenance_service
from tests.servers.test_production_stack import listening, second_instance, wait_until
from tests.support.apps import make_app

RIBBON = "you are bypassing it"
ADMIN = Actor("admin@example.com")


def new_link(app, **kwargs) -> tuple[int, str]:
    with app.app_context():
        link, raw = bypass_service.create_link(ADMIN, **kwargs)
        return link.id, raw


def end(app) -> None:
    with app.app_context():
        maintenance_service.end_window(Actor("cli:test"))


def set_cookie_header(response) -> str:
    headers = [value for value in response.headers.getlist("Set-Cookie") if value.startswith("pausa_bypass=")]
    assert len(headers) == 1, response.headers
    return headers[0]


def redeem(client, raw: str):
    response = client.get(f"/bypass/{raw}")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert urlsplit(response.headers["Location"]).path == "/"
    return response


def test_link_lets_its_holder_through_with_the_ribbon_while_others_are_blocked(app, client, activate):
    activate(message="Deploying", eta="30m", ends_at="1h")
    _, raw = new_link(app, expires="12h")
    assert client.get("/").status_code == 503
    response = redeem(client, raw)
    cookie = set_cookie_header(response)
    # Valid until the window's end (1 h), which comes before the chosen 12 h.
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))
    assert 3500 < max_age <= 3600
    home = client.get("/")
    assert home.status_code == 200
    assert RIBBON in home.get_data(as_text=True)
    assert client.get("/api/v1/ping").status_code == 200
    assert app.test_client().get("/").status_code == 503, "only the link's holder gets through"


def test_link_expiry_follows_the_window_end_or_the_chosen_expiry(app, activate):
    window_id = activate(ends_at="1h")
    with app.app_context():
        link, _ = bypass_service.create_link(ADMIN, expires="12h")
        window = db.session.get(MaintenanceWindow, window_id)
        assert link.expires_at == window.ends_at
        short, _ = bypass_service.create_link(ADMIN, expires="30m")
        assert timedelta(minutes=29) < short.expires_at - utcnow() <= timedelta(minutes=30)


def test_without_a_window_end_the_default_is_12_hours(app, activate):
    activate()
    with app.app_context():
        link, _ = bypass_service.create_link(ADMIN)
        assert timedelta(hours=11, minutes=59) < link.expires_at - utcnow() <= timedelta(hours=12)


def test_link_stops_working_when_it_expires(app, client, activate, monkeypatch):
    activate(message="No end")  # no ends_at: the chosen expiry rules
    _, raw = new_link(app, expires="1h")
    redeem(client, raw)
    assert client.get("/").status_code == 200
    later = utcnow() + timedelta(hours=2)
    import app.blueprints.bypass as bypass_views
    import app.gate.inapp as gate_module

    for module in (gate_module, bypass_service, bypass_views):
        monkeypatch.setattr(module, "utcnow", lambda: later)
    # The browser still sends the cookie; the server no longer honours it.
    assert client.get("/").status_code == 503
    assert client.get(f"/bypass/{raw}").status_code == 410


def test_link_stops_working_when_the_window_ends_and_never_opens_the_next_one(app, client, activate):
    activate(message="First")
    _, raw = new_link(app)
    redeem(client, raw)
    assert client.get("/").status_code == 200
    end(app)
    activate(message="Second")
    assert client.get("/").status_code == 503, "a link is for one window only"


def test_link_for_an_ended_window_is_refused_and_sets_nothing(app, client, activate):
    activate()
    _, raw = new_link(app)
    end(app)
    response = client.get(f"/bypass/{raw}")
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert not response.headers.getlist("Set-Cookie") or all(
        not value.startswith("pausa_bypass=") for value in response.headers.getlist("Set-Cookie")
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("raw", ["nope", "x" * 43, "a" * 500])
def test_unknown_link_is_a_clear_404(app, client, activate, raw):
    activate()
    response = client.get(f"/bypass/{raw}")
    assert response.status_code == 404
    assert "not valid" in response.get_data(as_text=True)
    assert all(not value.startswith("pausa_bypass=") for value in response.headers.getlist("Set-Cookie"))
    assert client.get("/").status_code == 503


def test_revoked_link_stops_on_another_instance_sharing_the_database(app, activate):
    other = second_instance(app)
    activate(message="Two dynos")
    link_id, raw = new_link(app)
    browser = other.test_client()
    redeem(browser, raw)
    assert browser.get("/").status_code == 200
    with app.app_context():
        bypass_service.revoke_link(link_id, ADMIN)
    assert browser.get("/").status_code == 503
    assert browser.get(f"/bypass/{raw}").status_code == 410
    assert app.test_client().get(f"/bypass/{raw}").status_code == 410


def test_revocation_reaches_a_long_cached_instance_at_once_through_redis(tmp_path, redis_url):
    first = make_app(tmp_path, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    second = second_instance(first, REDIS_URL=redis_url, MAINTENANCE_STATE_TTL=60.0)
    with first.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("cli:test"))
    link_id, raw = new_link(first)
    listening(second)
    browser = second.test_client()
    redeem(browser, raw)
    assert browser.get("/").status_code == 200
    with first.app_context():
        bypass_service.revoke_link(link_id, ADMIN)
    took = wait_until(lambda: browser.get("/").status_code == 503, timeout=5.0)
    # The TTL is a minute: only the pub/sub message explains a change within seconds.
    assert took < 5.0


def test_tampered_and_foreign_cookies_are_ignored(app, activate):
    activate()
    _, raw = new_link(app)
    client = app.test_client()
    value = set_cookie_header(redeem(client, raw)).split(";")[0].split("=", 1)[1]
    link_id, secret = value.split(".", 1)
    with app.app_context():
        token_hash = bypass_service.hash_token(raw)
    forged = {
        "tampered secret": f"{link_id}.{secret[:-2]}{'AA' if not secret.endswith('AA') else 'BB'}",
        "other key": cookies.cookie_value(int(link_id), cookies.derive_secret(b"another-secret", token_hash)),
        "the token's hash itself": f"{link_id}.{token_hash}",
        "the raw token": f"{link_id}.{raw}",
        "another link's id": f"{int(link_id) + 1}.{secret}",
        "the digest the state publishes": f"{link_id}.{cookies.digest(secret)}",
        "no secret": f"{link_id}.",
        "garbage": "not-a-cookie",
        "old signed format": "eyJsIjoxLCJ3IjoxLCJlIjoxNzk2MzIwMDM5fQ.YRRH3Wi0XBMcumqtPqB3YLa-mQE",
        "too long": f"{link_id}.{'x' * 300}",
    }
    for label, cookie in forged.items():
        attacker = app.test_client()
        attacker.set_cookie("pausa_bypass", cookie)
        assert attacker.get("/").status_code == 503, label
    honest = app.test_client()
    honest.set_cookie("pausa_bypass", value)
    assert honest.get("/").status_code == 200


def test_cookie_from_an_app_with_another_secret_key_is_ignored(tmp_path, app, activate):
    activate()
    _, raw = new_link(app)
    client = app.test_client()
    value = set_cookie_header(redeem(client, raw)).split(";")[0].split("=", 1)[1]
    foreign = create_app({"SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "other"})
    from tests.support.apps import _CREATED_APPS

    _CREATED_APPS.append(foreign)
    stranger = foreign.test_client()
    stranger.set_cookie("pausa_bypass", value)
    assert stranger.get("/").status_code == 503


def test_cookie_flags(app, client, activate):
    activate()
    _, raw = new_link(app)
    cookie = set_cookie_header(redeem(client, raw))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    assert "Expires=" in cookie


def test_cookie_is_secure_in_production(tmp_path):
    app = make_app(tmp_path, SESSION_COOKIE_SECURE=True)
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("cli:test"))
    _, raw = new_link(app)
    response = app.test_client().get(f"/bypass/{raw}", base_url="https://localhost")
    cookie = set_cookie_header(response)
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_tokens_are_stored_hashed(app, activate):
    activate()
    _, raw = new_link(app)
    with app.app_context():
        link = db.session.scalars(select(BypassLink)).one()
        assert link.token_hash == bypass_service.hash_token(raw)
        assert raw not in link.token_hash
        assert raw not in str([entry.details for entry in db.session.scalars(select(AuditEntry))])


def test_audit_entries_created_used_once_per_browser_and_revoked(app, activate):
    activate()
    link_id, raw = new_link(app)
    browser = app.test_client()
    redeem(browser, raw)
    redeem(browser, raw)  # the same browser again: not a new use
    redeem(app.test_client(), raw)  # another browser
    with app.app_context():
        bypass_service.revoke_link(link_id, ADMIN)
        entries = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("bypass.%")).order_by(AuditEntry.id)
        ).all()
        actions = [entry.action for entry in entries]
        assert actions == ["bypass.link_created", "bypass.link_used", "bypass.link_used", "bypass.link_revoked"]
        assert {entry.target for entry in entries} == {f"bypass_link:{link_id}"}
        assert entries[0].actor == ADMIN.name
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_revoking_twice_or_an_unknown_link_is_refused(app, activate):
    from app.services import NotFound

    activate()
    link_id, _ = new_link(app)
    with app.app_context():
        bypass_service.revoke_link(link_id, ADMIN)
        with pytest.raises(NotFound):
            bypass_service.revoke_link(link_id, ADMIN)
        with pytest.raises(NotFound):
            bypass_service.revoke_link(12345, ADMIN)


def test_no_link_without_a_window(app):
    from app.services import NotFound

    with app.app_context(), pytest.raises(NotFound):
        bypass_service.create_link(ADMIN)


def test_link_for_a_scheduled_window_counts_from_its_start(app):
    starts = utcnow() + timedelta(hours=3)
    with app.app_context():
        window = MaintenanceWindow(status="scheduled", starts_at=starts, created_by="t")
        db.session.add(window)
        db.session.commit()
        link, raw = bypass_service.create_link(ADMIN, expires="2h")
        assert link.window_id == window.id
        assert link.expires_at == starts + timedelta(hours=2)
    # Redeemable before the start, so testers can be ready; nothing is blocked yet anyway.
    client = app.test_client()
    redeem(client, raw)
    assert client.get("/").status_code == 200


# The fast path answers anonymous blocks without Flask: a bypass cookie must always reach Flask.


@pytest.fixture
def cached_app(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0)
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Fast"}, utcnow()), Actor("t"))
    app.flask_requests = []
    request_started.connect(lambda sender, **extra: app.flask_requests.append(1), app, weak=False)
    return app


def test_fast_path_never_blocks_a_bypass_cookie_holder(cached_app):
    _, raw = new_link(cached_app)
    anonymous = cached_app.test_client()
    for _ in range(5):  # warm the shared rendering: these are answered without Flask
        assert anonymous.get("/").status_code == 503
    assert len(cached_app.flask_requests) < 5
    tester = cached_app.test_client()
    redeem(tester, raw)
    for _ in range(5):
        before = len(cached_app.flask_requests)
        response = tester.get("/")
        assert response.status_code == 200
        assert RIBBON in response.get_data(as_text=True)
        assert len(cached_app.flask_requests) == before + 1, "a bypass cookie must go to Flask"
    assert anonymous.get("/").status_code == 503


# CLI, dashboard and API.


def test_cli_prints_a_url_that_works(app, runner, activate):
    activate()
    result = runner.invoke(args=["maintenance", "bypass-link", "--expires", "2h"])
    assert result.exit_code == 0, result.output
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith("http://localhost:5000/_pausa/bypass/")
    client = app.test_client()
    redeem(client, urlsplit(url).path.rsplit("/", 1)[1])
    assert client.get("/").status_code == 200

    result = runner.invoke(args=["maintenance", "bypass-link", "--base-url", "https://shop.example.com/"])
    assert result.stdout.strip().startswith("https://shop.example.com/_pausa/bypass/")
    listed = runner.invoke(args=["maintenance", "bypass-links"])
    assert listed.exit_code == 0 and len(listed.stdout.strip().splitlines()) == 2
    link_id = listed.stdout.split()[0]
    revoked = runner.invoke(args=["maintenance", "bypass-revoke", link_id])
    assert revoked.exit_code == 0, revoked.output
    assert runner.invoke(args=["maintenance", "bypass-revoke", link_id]).exit_code == 1


def test_cli_uses_public_url(tmp_path):
    app = make_app(tmp_path, PUBLIC_URL="https://pausa.example.org")
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("cli:test"))
    result = app.test_cli_runner().invoke(args=["maintenance", "bypass-link"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("https://pausa.example.org/_pausa/bypass/")


def test_cli_refuses_without_a_window_or_with_a_bad_expiry(app, runner, activate):
    result = runner.invoke(args=["maintenance", "bypass-link"])
    assert result.exit_code == 1 and "nothing to bypass" in result.output
    activate()
    for bad in ("soon", "3d", "0m"):
        result = runner.invoke(args=["maintenance", "bypass-link", "--expires", bad])
        assert result.exit_code == 2, bad
    with app.app_context():
        assert db.session.scalars(select(BypassLink)).all() == []


def test_dashboard_generates_shows_once_lists_and_revokes(app, client, auth, activate):
    auth.login("admin")
    page = client.get("/admin").get_data(as_text=True)
    assert "Generate bypass link" not in page, "no window, no bypass section"
    activate()
    page = client.get("/admin").get_data(as_text=True)
    assert "Generate bypass link" in page and "No live links." in page
    token = auth.csrf()
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    response = client.post("/admin/bypass-links", data={"expires": "2h", "csrf_token": token}, headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    url = re.search(r'id="bypass-new-url"[^>]*value="([^"]+)"', html).group(1)
    assert url.startswith("http://localhost/_pausa/bypass/")
    assert 'id="admin-panel"' in html and "<html" not in html
    assert "Link #1 for window" in html
    again = client.get("/admin").get_data(as_text=True)
    assert url not in again, "the link's URL is shown once"
    assert "Revoke link #1" in again

    visitor = app.test_client()
    redeem(visitor, urlsplit(url).path.rsplit("/", 1)[1])
    assert visitor.get("/").status_code == 200
    response = client.post("/admin/bypass-links/1/revoke", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 200
    assert "No live links." in response.get_data(as_text=True)
    assert visitor.get("/").status_code == 503
    response = client.post("/admin/bypass-links/1/revoke", data={"csrf_token": token}, headers=headers)
    assert response.status_code == 409


def test_dashboard_without_htmx_shows_the_whole_page_with_the_link(app, client, auth, activate):
    activate()
    auth.login("admin")
    token = auth.csrf()
    response = client.post("/admin/bypass-links", data={"expires": "1h", "csrf_token": token})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<html" in html and 'id="bypass-new-url"' in html
    bad = client.post("/admin/bypass-links", data={"expires": "forever", "csrf_token": token})
    assert bad.status_code == 422
    assert "duration" in bad.get_data(as_text=True)


def test_only_admins_make_links(app, client, auth, activate):
    activate(allowed_roles=["developer"])
    auth.login("developer")
    token = auth.csrf("/account")
    assert client.post("/admin/bypass-links", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(BypassLink)).all() == []


def test_api_creates_lists_and_revokes_links(app, activate):
    from app.services import tokens as token_service

    with app.app_context():
        _, raw_token = token_service.create_token("deploy", ["admin"], Actor("t"))
    api = app.test_client()
    headers = {"Authorization": f"Bearer {raw_token}"}
    assert api.post("/api/admin/maintenance/bypass-links", json={}, headers=headers).status_code == 404
    activate()
    bad = api.post("/api/admin/maintenance/bypass-links", json={"expires": "1y", "color": "red"}, headers=headers)
    assert bad.status_code == 400
    assert set(bad.json["fields"]) == {"expires", "color"}
    created = api.post("/api/admin/maintenance/bypass-links", json={"expires": "2h"}, headers=headers)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["url"].startswith("http://localhost/_pausa/bypass/") and body["revoked_at"] is None
    listed = api.get("/api/admin/maintenance/bypass-links", headers=headers).json["links"]
    assert [link["id"] for link in listed] == [body["id"]] and "url" not in listed[0]
    visitor = app.test_client()
    redeem(visitor, urlsplit(body["url"]).path.rsplit("/", 1)[1])
    assert visitor.get("/").status_code == 200
    deleted = api.delete(f"/api/admin/maintenance/bypass-links/{body['id']}", headers=headers)
    assert deleted.status_code == 200 and deleted.json["revoked_at"]
    assert visitor.get("/").status_code == 503
    assert api.delete(f"/api/admin/maintenance/bypass-links/{body['id']}", headers=headers).status_code == 404
    with app.app_context():
        actors = db.session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "bypass.link_created"))
        assert list(actors) == ["token:deploy"]
