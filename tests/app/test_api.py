"""The JSON admin API: auth, validation, conflicts, limits — what a deploy pipeline relies on."""

from __future__ import annotations

import pytest
from pausa_gate.state import Actor

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow
from app.services import tokens as token_service

URL = "/api/admin/maintenance"


@pytest.fixture
def token(app):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    return raw


@pytest.fixture
def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def windows(app):
    with app.app_context():
        return db.session.query(MaintenanceWindow).all()


def test_requires_authentication(client):
    response = client.get(URL)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header", ["Bearer pausa_wrong", "Bearer ", "Basic YWRtaW46YWRtaW4=", "Bearer " + "x" * 500]
)
def test_wrong_token_is_401_and_changes_nothing(app, client, header):
    response = client.post(URL, json={}, headers={"Authorization": header})
    assert response.status_code == 401
    assert windows(app) == []


def test_revoked_token_stops_working(app, client, bearer, runner):
    assert client.get(URL, headers=bearer).status_code == 200
    assert runner.invoke(args=["tokens", "revoke", "deploy"]).exit_code == 0
    assert client.get(URL, headers=bearer).status_code == 401


def test_token_without_admin_scope_is_403(app, client):
    with app.app_context():
        _, raw = token_service.create_token("smoke", ["bypass"], Actor("t"))
    response = client.post(URL, json={}, headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 403
    assert windows(app) == []


def test_non_admin_session_is_403_and_audited(app, client, auth):
    auth.login("developer")
    assert client.get(URL).status_code == 403
    with app.app_context():
        denied = db.session.query(AuditEntry).filter_by(action="admin.denied").one()
        assert denied.actor == "dev@example.com"


def test_activate_update_end_cycle(app, client, bearer):
    status = client.get(URL, headers=bearer)
    assert status.json["active"] is False

    created = client.post(
        URL,
        json={"message": "Deploying", "reason": "deployment", "eta": "45m", "allowed_roles": ["qa"]},
        headers=bearer,
    )
    assert created.status_code == 201, created.json
    window = created.json["window"]
    assert window["status"] == "active"
    assert window["started_by"] == "token:deploy"
    assert window["allowed_roles"] == ["qa"]
    assert client.get("/").status_code == 503

    updated = client.patch(URL, json={"message": "Almost there", "eta": "10m"}, headers=bearer)
    assert updated.status_code == 200
    assert updated.json["window"]["message"] == "Almost there"
    assert updated.json["window"]["allowed_roles"] == ["qa"]  # untouched fields stay

    ended = client.delete(URL, headers=bearer)
    assert ended.status_code == 200
    assert ended.json["window"]["status"] == "completed"
    assert ended.json["window"]["ended_how"] == "manual"
    assert client.get("/").status_code == 200

    with app.app_context():
        actions = [e.action for e in db.session.query(AuditEntry).order_by(AuditEntry.id)]
        assert actions[-3:] == ["maintenance.activated", "maintenance.updated", "maintenance.ended"]
        update = db.session.query(AuditEntry).filter_by(action="maintenance.updated").one()
        assert update.details["before"]["message"] == "Deploying"
        assert update.details["after"]["message"] == "Almost there"


def test_a_message_per_language_is_stored_shown_and_audited(app, client, bearer):
    created = client.post(
        URL, json={"message": "Deploying", "messages": {"pt-BR": "Implantando"}}, headers=bearer
    )
    assert created.status_code == 201, created.json
    assert created.json["window"]["message"] == "Deploying"
    assert created.json["window"]["messages"] == {"pt-BR": "Implantando"}
    portuguese = client.get("/account", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    english = client.get("/account", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Implantando" in portuguese and "Deploying" not in portuguese
    assert "Deploying" in english and "Implantando" not in english

    kept = client.patch(URL, json={"eta": "30m"}, headers=bearer)
    assert kept.json["window"]["messages"] == {"pt-BR": "Implantando"}  # not given: unchanged
    changed = client.patch(URL, json={"messages": {"pt-BR": "Quase lá"}}, headers=bearer)
    assert changed.status_code == 200
    assert client.get(URL, headers=bearer).json["window"]["messages"] == {"pt-BR": "Quase lá"}
    with app.app_context():
        activated = db.session.query(AuditEntry).filter_by(action="maintenance.activated").one()
        assert activated.details["after"]["messages"] == {"pt-BR": "Implantando"}
        update = db.session.query(AuditEntry).filter_by(action="maintenance.updated").all()[-1]
        assert update.details["before"] == {"messages": {"pt-BR": "Implantando"}}
        assert update.details["after"] == {"messages": {"pt-BR": "Quase lá"}}

    cleared = client.patch(URL, json={"messages": {}}, headers=bearer)
    assert cleared.json["window"]["messages"] == {}
    assert "Deploying" in client.get("/account", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)


@pytest.mark.parametrize(
    ("messages", "field"),
    [({"fr": "Bientôt"}, "messages.fr"), ({"pt-BR": "x" * 501}, "messages.pt-BR"),
     ({"pt-BR": ["x"]}, "messages.pt-BR"), ("Voltamos", "messages")],
)
def test_messages_per_language_are_validated(app, client, bearer, messages, field):
    response = client.post(URL, json={"message": "x", "messages": messages}, headers=bearer)
    assert response.status_code == 400
    assert response.json["error"] == "validation"
    assert list(response.json["fields"]) == [field]
    assert windows(app) == []


def test_second_activation_is_409(app, client, bearer):
    assert client.post(URL, json={}, headers=bearer).status_code == 201
    response = client.post(URL, json={"message": "again"}, headers=bearer)
    assert response.status_code == 409
    assert response.json["error"] == "conflict"
    assert len(windows(app)) == 1


def test_update_and_end_without_window_are_404(client, bearer):
    assert client.patch(URL, json={"message": "x"}, headers=bearer).status_code == 404
    assert client.delete(URL, headers=bearer).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "x" * 501}, "message"),
        ({"message": 42}, "message"),
        ({"eta": "tomorrow-ish"}, "eta"),
        ({"eta": "2000-01-01T00:00:00Z"}, "eta"),
        ({"ends_at": "2001-01-01"}, "ends_at"),
        ({"eta": "2h", "ends_at": "1h"}, "ends_at"),
        ({"reason": "vacation"}, "reason"),
        ({"mode": "partial"}, "mode"),
        ({"mode": "scoped"}, "scope_paths"),
        ({"mode": "scoped", "scope_paths": ["billing"]}, "scope_paths"),
        ({"allowed_roles": ["root"]}, "allowed_roles"),
        ({"allowed_ips": ["10.0.0.300/8"]}, "allowed_ips"),
        ({"notice_minutes": -1}, "notice_minutes"),
        ({"mesage": "typo"}, "mesage"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_validation_errors_name_the_field(app, client, bearer, body, field):
    response = client.post(URL, json=body, headers=bearer)
    assert response.status_code == 400
    assert response.json["error"] == "validation"
    assert field in response.json["fields"]
    assert windows(app) == []


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("not json", "application/json"), ("[1, 2]", "application/json"), ("message=x", "text/plain")],
)
def test_body_must_be_a_json_object(app, client, bearer, data, content_type):
    response = client.post(URL, data=data, content_type=content_type, headers=bearer)
    assert response.status_code == 400
    assert "body" in response.json["fields"]
    assert windows(app) == []


def test_patch_validation_keeps_window(app, client, bearer):
    client.post(URL, json={"message": "one"}, headers=bearer)
    response = client.patch(URL, json={"message": "y" * 600}, headers=bearer)
    assert response.status_code == 400
    assert client.get(URL, headers=bearer).json["window"]["message"] == "one"


def test_session_needs_csrf(app, client, auth):
    auth.login("admin")
    assert client.post(URL, json={}).status_code == 400
    assert windows(app) == []
    token = auth.csrf()
    response = client.post(URL, json={"message": "from the browser"}, headers={"X-CSRFToken": token})
    assert response.status_code == 201
    assert response.json["window"]["started_by"] == "admin@example.com"


def test_body_too_large_is_413(app, client, bearer):
    response = client.post(URL, data="x" * (1024 * 1024 + 10), content_type="application/json", headers=bearer)
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"
    assert windows(app) == []


def test_state_changes_limited_per_actor(app, client, bearer):
    statuses = []
    for _ in range(3):
        statuses.append(client.post(URL, json={}, headers=bearer).status_code)
        statuses.append(client.delete(URL, headers=bearer).status_code)
    assert statuses[:5] == [201, 200, 201, 200, 201]
    assert statuses[5] == 429
    limited = client.delete(URL, headers=bearer)
    assert limited.status_code == 429
    assert limited.json["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # Reads are never limited, and another actor has its own budget.
    assert client.get(URL, headers=bearer).status_code == 200
    with app.app_context():
        _, other = token_service.create_token("other", ["admin"], Actor("t"))
    assert client.delete(URL, headers={"Authorization": f"Bearer {other}"}).status_code == 200


def test_windows_list(client, bearer):
    client.post(URL, json={"message": "first"}, headers=bearer)
    client.delete(URL, headers=bearer)
    client.post(URL, json={"message": "second"}, headers=bearer)
    listed = client.get(URL + "/windows", headers=bearer).json["windows"]
    assert [w["message"] for w in listed] == ["second", "first"]
    assert [w["status"] for w in listed] == ["active", "completed"]


def test_ending_a_named_window_never_ends_another(client, bearer):
    started = client.post(URL, json={"message": "Mine"}, headers=bearer).json["window"]["id"]
    other = client.delete(f"{URL}?window={started + 1}", headers=bearer)
    assert other.status_code == 409 and "left on" in other.json["message"]
    assert client.get(URL, headers=bearer).json["active"] is True
    for bad in ("abc", "-1"):  # state changes are limited to 5 a minute per actor
        refused = client.delete(f"{URL}?window={bad}", headers=bearer)
        assert refused.status_code == 400 and "window" in refused.json["fields"], bad
    assert client.get(URL, headers=bearer).json["active"] is True
    ended = client.delete(f"{URL}?window={started}", headers=bearer)
    assert ended.status_code == 200 and ended.json["active"] is False
