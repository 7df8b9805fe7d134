"""API tokens: expiry, rotation without downtime, the listing, the API, the dashboard, the audit trail."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, AuditEntry
from app.services import ServiceError
from app.services import tokens as token_service

API = "/api/admin/tokens"
CLI = Actor("cli:test")
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def make(app, name: str = "deploy", scopes=("admin",), expires: str | None = None, now=None) -> str:
    with app.app_context():
        return token_service.create_token(name, list(scopes), CLI, expires, now=now)[1]


def rotate(app, name: str = "deploy", grace: str | None = None, now=None) -> str:
    with app.app_context():
        return token_service.rotate_token(name, CLI, grace, now=now)[1]


def accepted(app, raw: str, now=None) -> bool:
    """Tell whether the token service lets this secret in at `now`."""
    with app.test_request_context("/api/admin/maintenance"):
        return token_service.authenticate(raw, now=now) is not None


def trail(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# -- expiry ------------------------------------------------------------------------------------


def test_a_token_works_until_its_expiry_then_is_refused_and_the_refusal_audited_once(app):
    start = utcnow()
    raw = make(app, expires="30d", now=start)
    assert accepted(app, raw, start + timedelta(days=29, hours=23))
    assert not accepted(app, raw, start + timedelta(days=30))
    assert not accepted(app, raw, start + timedelta(days=31))
    entries = trail(app, "token.expired_use")
    assert len(entries) == 1, "two refusals within the hour leave one entry"
    assert entries[0].target == "token:deploy" and entries[0].actor == "token:deploy"


def test_an_expired_token_gets_the_same_401_as_an_unknown_one_everywhere(app, client):
    admin = make(app, "deploy", expires="1m", now=utcnow() - timedelta(hours=1))
    gate = make(app, "shop", scopes=("gate",), expires="1m", now=utcnow() - timedelta(hours=1))
    unknown = client.get("/api/admin/maintenance", headers=bearer("pausa_nope"))
    expired = client.get("/api/admin/maintenance", headers=bearer(admin))
    assert expired.status_code == unknown.status_code == 401
    assert expired.get_json() == unknown.get_json()
    assert "expired" in expired.get_json()["message"]
    assert client.get("/gate/state", headers=bearer(gate)).status_code == 401
    assert [entry.target for entry in trail(app, "token.expired_use")] == ["token:deploy", "token:shop"]
    assert trail(app, "token.expired_use")[0].details["path"] == "/api/admin/maintenance"


@pytest.mark.parametrize("value", ["abc", "30", "0d", "366d", "5x", "-1d", "1w"])
def test_bad_expiry_is_a_usage_error_and_makes_nothing(app, runner, value):
    result = runner.invoke(args=["tokens", "create", "deploy", "--expires", value])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --expires: ")
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id)) is None


@pytest.mark.parametrize(
    ("given", "says"),
    [([], "never expires"), (["--expires", "30d"], "expires at"), (["--expires", "365d"], "expires at")],
)
def test_create_says_when_the_token_expires(app, runner, given, says):
    result = runner.invoke(args=["tokens", "create", "deploy", *given])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith("pausa_") and says in result.stderr
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        if given:
            days = int(given[1].removesuffix("d"))
            assert abs(token.expires_at - (utcnow() + timedelta(days=days))) < timedelta(minutes=1)
        else:
            assert token.expires_at is None


# -- rotation ----------------------------------------------------------------------------------


def test_both_secrets_work_during_the_grace_period_then_only_the_new_one(app):
    start = utcnow()
    old = make(app, scopes=("admin", "gate"), expires="90d", now=start)
    new = rotate(app, grace="1h", now=start + timedelta(minutes=5))
    during = start + timedelta(minutes=64)
    after = start + timedelta(minutes=65)
    assert accepted(app, old, during) and accepted(app, new, during)
    assert not accepted(app, old, after) and accepted(app, new, after)
    with app.app_context():
        token = db.session.scalar(select(ApiToken))
        assert (token.name, token.scopes) == ("deploy", "admin gate")
        assert token.expires_at.replace(microsecond=0) == (start + timedelta(days=90)).replace(microsecond=0)
    (entry,) = trail(app, "token.rotated")
    assert entry.target == "token:deploy" and entry.details["ended_older_secret"] is False
    assert old not in json.dumps(entry.details) and new not in json.dumps(entry.details)


def test_rotating_again_during_the_grace_period_ends_the_older_secret(app):
    start = utcnow()
    first = make(app, now=start)
    second = rotate(app, grace="1h", now=start)
    third = rotate(app, grace="1h", now=start + timedelta(minutes=10))
    moment = start + timedelta(minutes=20)
    assert not accepted(app, first, moment)
    assert accepted(app, second, moment) and accepted(app, third, moment)
    assert not accepted(app, second, start + timedelta(minutes=71))
    assert [entry.details["ended_older_secret"] for entry in trail(app, "token.rotated")] == [False, True]


def test_grace_zero_ends_the_previous_secret_at_once_and_its_use_is_audited(app, client):
    old = make(app)
    new = rotate(app, grace="0m")
    assert client.get("/api/admin/maintenance", headers=bearer(old)).status_code == 401
    assert client.get("/api/admin/maintenance", headers=bearer(new)).status_code == 200
    (entry,) = trail(app, "token.expired_use")
    assert entry.details["secret"] == "previous"


@pytest.mark.parametrize(
    ("setup", "error"),
    [("expired", "has expired"), ("revoked", "No active token"), ("missing", "No active token")],
)
def test_only_a_live_token_rotates(app, setup, error):
    if setup == "expired":
        make(app, expires="1m", now=utcnow() - timedelta(hours=1))
    elif setup == "revoked":
        make(app)
        with app.app_context():
            token_service.revoke_token("deploy", CLI)
    with app.app_context(), pytest.raises(ServiceError, match=error):
        token_service.rotate_token("deploy", CLI)
    assert trail(app, "token.rotated") == []


def test_cli_rotate_prints_the_new_secret_once_and_keeps_the_old_one_for_the_grace(app, runner, client):
    old = make(app)
    result = runner.invoke(args=["tokens", "rotate", "deploy", "--grace", "2h"])
    assert result.exit_code == 0, result.output
    new = result.stdout.strip()
    assert new.startswith("pausa_") and new != old
    assert "previous secret works until" in result.stderr
    assert client.get("/api/admin/maintenance", headers=bearer(old)).status_code == 200
    assert client.get("/api/admin/maintenance", headers=bearer(new)).status_code == 200
    listed = runner.invoke(args=["tokens", "list"]).output
    assert "rotating (previous secret until" in listed and new not in listed and old not in listed


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [(["deploy", "--grace", "8d"], 2, "Error: --grace: "), (["deploy", "--grace", "soon"], 2, "Error: --grace: "),
     (["nobody"], 1, "No active token named nobody")],
)
def test_cli_rotate_refuses_bad_input(app, runner, args, code, says):
    make(app)
    result = runner.invoke(args=["tokens", "rotate", *args])
    assert result.exit_code == code and says in result.stderr
    assert trail(app, "token.rotated") == []


# -- the listing -------------------------------------------------------------------------------


def test_list_shows_every_state_never_a_secret_or_hash(app, runner, client):
    now = utcnow()
    live = make(app, "live", scopes=("admin", "bypass"), expires="30d")
    make(app, "expired", expires="1m", now=now - timedelta(days=2))
    make(app, "revoked")
    make(app, "rotating", scopes=("gate",))
    with app.app_context():
        token_service.revoke_token("revoked", CLI)
    rotated = rotate(app, "rotating", grace="1h")
    assert client.get("/api/admin/maintenance", headers=bearer(live)).status_code == 200
    result = runner.invoke(args=["tokens", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["NAME", "SCOPES", "CREATED", "BY", "EXPIRES", "LAST USED", "STATE"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert rows["live"][1] == "admin,bypass" and rows["live"][3] == "cli:test"
    assert rows["live"][5] != "never" and rows["live"][6] == "live"
    assert rows["expired"][6] == "expired" and rows["expired"][5] == "never"
    assert rows["revoked"][6] == "revoked" and rows["revoked"][4] == "never"
    assert rows["rotating"][6].startswith("rotating")
    assert "within the hour" in result.stderr
    with app.app_context():
        hashes = [row.token_hash for row in db.session.scalars(select(ApiToken))]
    scripted = runner.invoke(args=["tokens", "list", "--json"]).stdout
    assert {t["name"]: t["state"] for t in json.loads(scripted)["tokens"]} == {
        "live": "live", "expired": "expired", "revoked": "revoked", "rotating": "rotating"}
    for shown in (result.output, scripted):
        assert live not in shown and rotated not in shown
        assert not any(digest in shown for digest in hashes)


# -- the API -----------------------------------------------------------------------------------


@pytest.fixture
def admin_token(app):
    return make(app, "pipeline")


def test_api_creates_lists_rotates_and_revokes(app, client, admin_token):
    headers = bearer(admin_token)
    made = client.post(API, json={"name": "ci", "scopes": ["gate"], "expires": "30d"}, headers=headers)
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    secret = made.get_json()["secret"]
    assert made.get_json()["token"]["scopes"] == ["gate"] and made.get_json()["token"]["expires_at"]
    assert client.get("/gate/state", headers=bearer(secret)).status_code == 200
    listed = client.get(API, headers=headers)
    body = listed.get_data(as_text=True)
    assert [t["name"] for t in listed.get_json()["tokens"]] == ["ci", "pipeline"]
    assert secret not in body and "hash" not in body
    assert listed.get_json()["tokens"][0]["last_used_precision_seconds"] == 3600

    rotated = client.post(f"{API}/ci/rotate", json={"grace": "15m"}, headers=headers)
    assert rotated.status_code == 200 and rotated.get_json()["token"]["state"] == "rotating"
    new = rotated.get_json()["secret"]
    assert client.get("/gate/state", headers=bearer(secret)).status_code == 200
    assert client.get("/gate/state", headers=bearer(new)).status_code == 200

    revoked = client.delete(f"{API}/ci", headers=headers)
    assert revoked.status_code == 200 and revoked.get_json()["token"]["state"] == "revoked"
    assert client.get("/gate/state", headers=bearer(secret)).status_code == 401
    assert client.get("/gate/state", headers=bearer(new)).status_code == 401
    assert [e.actor for e in trail(app, "token.created")][-1] == "token:pipeline"
    assert len(trail(app, "token.rotated")) == len(trail(app, "token.revoked")) == 1


@pytest.mark.parametrize(
    ("body", "fields"),
    [({}, {"name"}), ({"name": "has space"}, {"name"}), ({"name": "x" * 81}, {"name"}),
     ({"name": "ok", "scopes": ["root"]}, {"scopes"}), ({"name": "ok", "scopes": "admin"}, {"scopes"}),
     ({"name": "ok", "expires": "forever"}, {"expires"}), ({"name": "ok", "expires": 30}, {"expires"}),
     ({"name": "ok", "expires": "400d"}, {"expires"}), ({"name": "ok", "colour": "red"}, {"colour"}),
     ({"name": 7, "scopes": [1], "expires": "0m"}, {"name", "scopes", "expires"})],
)
def test_api_create_names_every_bad_field_and_makes_nothing(app, client, admin_token, body, fields):
    response = client.post(API, json=body, headers=bearer(admin_token))
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == fields
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ApiToken.id))) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [(f"{API}/pipeline/rotate", {"grace": "8d"}, 400, "grace"), (f"{API}/pipeline/rotate", {"grace": 5}, 400, "grace"),
     (f"{API}/pipeline/rotate", {"when": "now"}, 400, "when"), (f"{API}/nobody/rotate", {}, 404, None),
     (API, {"name": "pipeline"}, 409, None)],
)
def test_api_rotate_and_create_refusals(app, client, admin_token, path, body, status, field):
    response = client.post(path, json=body, headers=bearer(admin_token))
    assert response.status_code == status
    if field:
        assert field in response.get_json()["fields"]
    assert client.get(API, headers=bearer(admin_token)).status_code == 200, "the token still works"


def test_a_token_rotates_itself_but_cannot_revoke_itself(app, client, admin_token):
    refused = client.delete(f"{API}/pipeline", headers=bearer(admin_token))
    assert refused.status_code == 409 and "cannot revoke itself" in refused.get_json()["message"]
    rotated = client.post(f"{API}/pipeline/rotate", headers=bearer(admin_token))
    assert rotated.status_code == 200
    new = rotated.get_json()["secret"]
    assert client.get(API, headers=bearer(admin_token)).status_code == 200  # the default 1 h of grace
    assert client.get(API, headers=bearer(new)).status_code == 200
    assert trail(app, "token.revoked") == []


@pytest.mark.parametrize("who", ["anonymous", "gate token", "developer"])
def test_only_admins_manage_tokens_over_the_api(app, client, auth, who):
    headers = {}
    if who == "gate token":
        headers = bearer(make(app, "shop", scopes=("gate",)))
    elif who == "developer":
        auth.login("developer")
    assert client.get(API, headers=headers).status_code in (401, 403)
    assert client.post(API, json={"name": "sneaky"}, headers=headers).status_code in (401, 403)
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id).where(ApiToken.name == "sneaky")) is None


def test_an_admin_session_needs_csrf_to_make_a_token(app, client, auth):
    auth.login("admin")
    assert client.post(API, json={"name": "ci"}).status_code == 400
    made = client.post(API, json={"name": "ci"}, headers={"X-CSRFToken": auth.csrf()})
    assert made.status_code == 201
    assert trail(app, "token.created")[-1].actor == "admin@example.com"


# -- the dashboard -----------------------------------------------------------------------------


def shown_secret(html: str) -> str:
    match = re.search(r'id="token-secret"[^>]*value="([^"]+)"', html)
    assert match, "no secret on the page"
    return match.group(1)


def test_dashboard_creates_rotates_and_revokes(app, client, auth):
    auth.login("admin")
    csrf = auth.csrf()
    assert client.post("/admin/tokens", data={"name": "dash"}).status_code == 400  # no CSRF
    refused = client.post("/admin/tokens", data={"name": "bad name", "expires": "30d", "csrf_token": csrf}, headers=HX)
    assert refused.status_code == 422 and "A token name is 1-80 letters" in refused.get_data(as_text=True)
    kept = refused.get_data(as_text=True)
    assert 'value="bad name"' in kept and '<option value="30d" selected>' in kept, "the form keeps what was typed"
    assert '<option value="90d" selected>' in client.get("/admin").get_data(as_text=True)

    made = client.post("/admin/tokens", headers=HX,
                       data={"name": "dash", "scopes": ["gate"], "expires": "7d", "csrf_token": csrf})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    page = made.get_data(as_text=True)
    secret = shown_secret(page)
    assert "shown only once" in page
    assert client.get("/gate/state", headers=bearer(secret)).status_code == 200
    again = client.get("/admin").get_data(as_text=True)
    assert secret not in again and "<code>dash</code>" in again

    rotated = client.post("/admin/tokens/dash/rotate", data={"grace": "1h", "csrf_token": csrf}, headers=HX)
    assert rotated.status_code == 200
    new = shown_secret(rotated.get_data(as_text=True))
    assert new != secret and "previous secret works until" in rotated.get_data(as_text=True)
    assert client.get("/gate/state", headers=bearer(secret)).status_code == 200
    assert client.get("/gate/state", headers=bearer(new)).status_code == 200

    page = client.get("/admin").get_data(as_text=True)
    assert "Yes, revoke token dash" in page, "revoking asks for confirmation first"
    revoked = client.post("/admin/tokens/dash/revoke", data={"csrf_token": csrf}, headers=HX)
    assert revoked.status_code == 200 and "Token revoked" in revoked.get_data(as_text=True)
    assert client.get("/gate/state", headers=bearer(new)).status_code == 401
    assert client.post("/admin/tokens/dash/revoke", data={"csrf_token": csrf}, headers=HX).status_code == 409
    with app.app_context():
        actions = [e.action for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.target == "token:dash").order_by(AuditEntry.id))]
    assert actions[:3] == ["token.created", "token.rotated", "token.revoked"]


@pytest.mark.parametrize(("path", "data"), [("/admin/tokens", {"name": "x"}), ("/admin/tokens/deploy/revoke", {})])
def test_dashboard_token_actions_are_for_admins_only(app, client, auth, path, data):
    make(app)
    auth.login("developer")
    assert client.post(path, data={**data, "csrf_token": auth.csrf("/account")}).status_code == 403
    assert trail(app, "token.created")[-1].target == "token:deploy" and trail(app, "token.revoked") == []


# -- migration 0014 ----------------------------------------------------------------------------


def test_a_token_made_before_migration_0014_keeps_working_and_never_expires(tmp_path):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'migrated.db'}"})
    raw = token_service.PREFIX + "made-before-0014"
    with app.app_context():
        upgrade(revision="0013")
        db.session.execute(text(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_by, created_at)"
            " VALUES ('old', :digest, 'admin', 'cli:old', '2026-01-01 00:00:00')"
        ), {"digest": token_service.hash_token(raw)})
        db.session.commit()
        upgrade()
        token = db.session.scalar(select(ApiToken))
        assert token.expires_at is None and token_service.state_of(token) == "live"
        db.session.remove()
        downgrade(revision="0013")
        columns = set(db.session.execute(text("SELECT * FROM api_tokens")).keys())
        assert "expires_at" not in columns and "previous_token_hash" not in columns
        db.session.remove()
        upgrade()
    assert app.test_client().get("/api/admin/maintenance", headers=bearer(raw)).status_code == 200
