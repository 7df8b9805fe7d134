"""Admin events worth a trace: token use (hourly) and rate-limit hits, with IP and user agent."""

from __future__ import annotations

from datetime import timedelta

from pausa_gate.state import Actor
from sqlalchemy import select, update

from app.extensions import db
from app.models import ApiToken, AuditEntry, utcnow
from app.services import tokens as token_service

URL = "/api/admin/maintenance"
UA = {"User-Agent": "deploy-bot/2.0"}


def entries(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_token_use_is_audited_once_per_hour(app, client):
    with app.app_context():
        _, raw = token_service.create_token("ci", ["admin"], Actor("cli:test"))
    headers = {"Authorization": f"Bearer {raw}", **UA}
    for _ in range(3):
        assert client.get(URL, headers=headers).status_code == 200
    used = entries(app, "token.used")
    assert len(used) == 1
    assert used[0].actor == "token:ci" and used[0].target == "token:ci"
    assert used[0].user_agent == "deploy-bot/2.0" and used[0].ip == "127.0.0.1"
    with app.app_context():
        db.session.execute(update(ApiToken).values(last_used_at=utcnow() - timedelta(minutes=61)))
        db.session.commit()
    client.get(URL, headers=headers)
    assert len(entries(app, "token.used")) == 2
    # An unknown token is not "used" (it is refused before that).
    assert client.get(URL, headers={"Authorization": "Bearer pausa_nope"}).status_code == 401
    assert len(entries(app, "token.used")) == 2


def test_state_change_rate_limit_hits_are_audited(app, client):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    headers = {"Authorization": f"Bearer {raw}", **UA}
    # Only changes that went through count (a refused one costs nothing): on, off, on, off, on...
    statuses = [
        (client.post(URL, json={}, headers=headers) if turn % 2 == 0 else client.delete(URL, headers=headers))
        .status_code for turn in range(8)
    ]
    assert statuses == [201, 200, 201, 200, 201, 429, 429, 429]
    limited = entries(app, "admin.rate_limited")
    assert len(limited) == 1, "audited once a minute per actor, not per refused request"
    assert limited[0].actor == "token:deploy"
    assert limited[0].target == URL
    assert limited[0].details["method"] == "DELETE"
    assert limited[0].user_agent == "deploy-bot/2.0" and limited[0].ip == "127.0.0.1"


def test_admin_denied_is_audited_once_per_user_per_interval(app, client):
    from app.models import User
    from tests.support.apps import AuthActions

    AuthActions(client).login("qa")
    statuses = [client.get(path).status_code for path in ("/admin", "/admin/audit", "/admin", "/admin/panel")]
    statuses.append(client.get("/api/admin/maintenance").status_code)
    assert statuses == [403] * 5, "every request is still refused"
    denied = entries(app, "admin.denied")
    assert len(denied) == 1, "a non-admin clicking around must not write a permanent row per request"
    assert denied[0].actor == "qa@example.com" and denied[0].target == "/admin"
    assert denied[0].details == {"method": "GET"}
    # The next interval gets its entry; another user has their own.
    with app.app_context():
        db.session.execute(update(User).values(last_denied_at=utcnow() - timedelta(minutes=61)))
        db.session.commit()
    assert client.get("/admin/audit").status_code == 403
    assert [entry.target for entry in entries(app, "admin.denied")] == ["/admin", "/admin/audit"]
    other = app.test_client()
    AuthActions(other).login("developer")
    assert other.get("/admin").status_code == 403
    assert [entry.actor for entry in entries(app, "admin.denied")][-1] == "dev@example.com"


def test_admin_denied_for_a_token_without_admin_scope_is_coalesced_too(app, client):
    with app.app_context():
        _, raw = token_service.create_token("smoke", ["bypass"], Actor("cli:test"))
    headers = {"Authorization": f"Bearer {raw}", **UA}
    assert [client.post(URL, json={}, headers=headers).status_code for _ in range(4)] == [403] * 4
    denied = entries(app, "admin.denied")
    assert len(denied) == 1
    assert denied[0].actor == "token:smoke" and denied[0].details == {"method": "POST"}
