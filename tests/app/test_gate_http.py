"""The gate through HTTP: every status code and header an end user or a machine sees."""

from __future__ import annotations

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app.extensions import STATE_CACHE_KEY, db
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from app.services import state as state_service
from app.services import tokens as token_service

BLOCK_HEADERS = {"Cache-Control": "no-store", "X-Maintenance": "active"}


def assert_block_headers(response, retry_after: int | None = None):
    assert response.status_code == 503
    for name, value in BLOCK_HEADERS.items():
        assert response.headers[name] == value
    assert 30 <= int(response.headers["Retry-After"]) <= 3600
    if retry_after is not None:
        assert abs(int(response.headers["Retry-After"]) - retry_after) <= 2


def test_no_window_everything_open(client):
    assert client.get("/").status_code == 200
    assert "X-Maintenance" not in client.get("/").headers
    assert client.get("/api/v1/ping").json == {"ok": True, "user": None}


def test_page_rendered_in_place_with_message(client, activate):
    activate(message="Upgrading <b>the</b> database\nsecond line", reason="database", eta="20m")
    response = client.get("/account?tab=1")
    assert_block_headers(response, retry_after=1200)
    html = response.get_data(as_text=True)
    assert response.mimetype == "text/html"
    assert "We’ll be right back" in html
    # Escaped, newline kept (the CSS shows it with pre-line).
    assert "Upgrading &lt;b&gt;the&lt;/b&gt; database\nsecond line" in html
    assert "Database work" in html
    assert 'data-seconds="1200"' in html or 'data-seconds="1199"' in html
    assert "<noscript><meta http-equiv=\"refresh\"" in html
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/api/v1/items", {}),
        ("/", {"Accept": "application/json"}),
        ("/account", {"Accept": "application/json, text/html;q=0.5"}),
    ],
    ids=["api-path", "accept-json", "accept-prefers-json"],
)
def test_json_block(client, activate, path, headers):
    activate(message="Back soon", reason="deployment", eta="2h")
    response = client.get(path, headers=headers)
    assert_block_headers(response, retry_after=3600)
    body = response.json
    assert body["error"] == "maintenance"
    assert body["message"] == "Back soon"
    assert body["reason"] == "deployment"
    assert body["mode"] == "full"
    assert body["eta"].startswith(str(utcnow().year))
    assert body["retry_after"] == int(response.headers["Retry-After"])
    assert body["status_url"] == "/_pausa/status.json"


def test_htmx_request_gets_refresh(client, activate):
    activate()
    response = client.get("/account", headers={"HX-Request": "true"})
    assert_block_headers(response)
    assert response.headers["HX-Refresh"] == "true"
    assert "HX-Request" in response.headers["Vary"]


def test_htmx_history_restore_gets_full_page(client, activate):
    activate()
    response = client.get(
        "/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert_block_headers(response)
    assert "HX-Refresh" not in response.headers
    assert "<!doctype html>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("eta", "expected"),
    [(None, 300), ("10s", 30), ("5m", 300), ("90m", 3600), ("1d", 3600)],
    ids=["no-eta", "clamped-low", "exact", "clamped-high", "far"],
)
def test_retry_after_follows_eta(client, activate, eta, expected):
    activate(**({"eta": eta} if eta else {}))
    response = client.get("/")
    assert_block_headers(response, retry_after=expected)


def test_overdue_says_longer_than_expected(app, client, activate):
    window_id = activate(eta="1h")
    from app.models import MaintenanceWindow

    with app.app_context():
        window = db.session.get(MaintenanceWindow, window_id)
        window.eta = utcnow().replace(microsecond=0) - __import__("datetime").timedelta(minutes=5)
        state_service.bump_version()
        db.session.commit()
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert "taking longer than expected" in html
    assert "data-countdown" not in html
    assert response.headers["Retry-After"] == "30"
    assert client.get("/maintenance/status.json").json["window"]["overdue"] is True


@pytest.mark.parametrize(
    "path",
    [
        "/health/live",
        "/maintenance",
        "/maintenance/status",
        "/maintenance/status.json",
        "/auth/login",
        "/static/css/app.css",
        "/static/htmx-2.0.11.min.js",
    ],
)
def test_always_allowed_paths_during_maintenance(client, activate, path):
    activate()
    response = client.get(path)
    assert response.status_code == 200
    assert "X-Maintenance" not in response.headers


def test_admin_paths_pass_the_gate_but_need_auth(client, activate):
    activate()
    assert client.get("/admin").status_code == 302
    assert client.get("/api/admin/maintenance").status_code == 401


@pytest.mark.parametrize(
    "path", ["/webhooksx", "/webhooks/../account", "//account", "/./account", "/maintenancex"]
)
def test_path_tricks_stay_blocked(client, activate, path):
    activate()
    response = client.get(path)
    assert response.status_code == 503


def test_query_string_never_matters(client, activate):
    activate()
    assert client.get("/?next=/health/live&path=/webhooks").status_code == 503
    assert client.get("/health/live?x=/account").status_code == 200


def test_configured_allowlist(tmp_path):
    from tests.support.apps import make_app

    app = make_app(tmp_path / "a", MAINTENANCE_ALLOWLIST=("/api/v1/ping",))
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    client = app.test_client()
    assert client.get("/api/v1/ping").status_code == 200
    assert client.get("/api/v1/items").status_code == 503


@pytest.mark.parametrize(
    ("role", "allowed_roles", "expected"),
    [
        ("admin", [], 200),
        ("developer", ["developer"], 200),
        ("qa", ["developer"], 503),
        ("user", ["developer", "qa"], 503),
    ],
)
def test_role_bypass(client, auth, activate, role, allowed_roles, expected):
    activate(allowed_roles=allowed_roles)
    auth.login(role)
    response = client.get("/account")
    assert response.status_code == expected
    if expected == 200:
        assert "you are bypassing it" in response.get_data(as_text=True)


def test_role_bypass_follows_role_changes(app, client, auth, activate, runner):
    activate(allowed_roles=["qa"])
    auth.login("qa")
    assert client.get("/account").status_code == 200
    result = runner.invoke(args=["users", "set-role", "qa@example.com", "user"])
    assert result.exit_code == 0, result.output
    assert client.get("/account").status_code == 503


def test_ip_bypass_uses_proxyfix_not_raw_header(tmp_path):
    from tests.support.apps import make_app

    for trusted, expected in ((1, 200), (0, 503)):
        app = make_app(tmp_path / f"ip{trusted}", TRUSTED_PROXY_COUNT=trusted)
        with app.app_context():
            maintenance_service.activate_window(
                validate_window({"allowed_ips": ["203.0.113.0/24"]}, utcnow()), Actor("t")
            )
        client = app.test_client()
        response = client.get("/", headers={"X-Forwarded-For": "203.0.113.7"})
        assert response.status_code == expected, f"TRUSTED_PROXY_COUNT={trusted}"


def test_ip_bypass_only_rightmost_trusted_hop(tmp_path):
    """A client cannot prepend an allowed IP to X-Forwarded-For to get in."""
    from tests.support.apps import make_app

    app = make_app(tmp_path / "hop", TRUSTED_PROXY_COUNT=1)
    with app.app_context():
        maintenance_service.activate_window(
            validate_window({"allowed_ips": ["203.0.113.7"]}, utcnow()), Actor("t")
        )
    client = app.test_client()
    forged = {"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}
    assert client.get("/", headers=forged).status_code == 503
    honest = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7"}
    assert client.get("/", headers=honest).status_code == 200


def test_bypass_token_scope(app, client, activate):
    activate()
    with app.app_context():
        _, bypass = token_service.create_token("smoke", ["bypass"], Actor("t"))
        _, admin_only = token_service.create_token("deploy", ["admin"], Actor("t"))
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {bypass}"}).status_code == 200
    assert client.get("/api/v1/items", headers={"Authorization": f"Bearer {admin_only}"}).status_code == 503
    assert client.get("/api/v1/items", headers={"Authorization": "Bearer pausa_nope"}).status_code == 503


def test_read_only_mode(client, auth, activate):
    auth.login("user")
    token = auth.csrf("/account")
    activate(mode="read_only", message="Saving is paused")
    page = client.get("/account")
    assert page.status_code == 200
    assert "saving is paused" in page.get_data(as_text=True).lower()
    response = client.post("/account", data={"note": "hi", "csrf_token": token})
    assert_block_headers(response)
    assert "Your change was not saved" in response.get_data(as_text=True)
    assert client.post("/api/v1/items", json={"name": "x"}).status_code == 503
    assert client.get("/api/v1/items").status_code == 200


def test_scoped_mode(client, activate):
    activate(mode="scoped", scope_paths=["/api/v1/items"])
    assert client.get("/api/v1/items").status_code == 503
    assert client.get("/API/v1/ITEMS").status_code in (503,)
    assert client.get("/api/v1/ping").status_code == 200
    home = client.get("/")
    assert home.status_code == 200
    assert "Maintenance in progress" in home.get_data(as_text=True)


def test_gate_off(tmp_path):
    from tests.support.apps import make_app

    app = make_app(tmp_path / "off", MAINTENANCE_GATE=False)
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    assert app.test_client().get("/").status_code == 200


def test_steady_state_costs_no_sql(tmp_path):
    """With a TTL, requests inside it run no SQL at all, with or without a window."""
    from sqlalchemy import event

    from tests.support.apps import make_app

    app = make_app(tmp_path / "sql", MAINTENANCE_STATE_TTL=60.0)
    client = app.test_client()
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    client.get("/")  # first request loads the state
    loaded = len(statements)
    assert loaded >= 1
    for _ in range(20):
        assert client.get("/").status_code == 200
        assert client.get("/maintenance/status").status_code == 200
    assert len(statements) == loaded

    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    # Another worker's change is seen only after the TTL; this worker invalidates on its own changes.
    app.extensions[STATE_CACHE_KEY].invalidate()
    assert client.get("/").status_code == 503
    settled = len(statements)
    for _ in range(20):
        assert client.get("/").status_code == 503
    assert len(statements) == settled


def test_enforced_after_ttl_without_invalidation(tmp_path):
    import time

    from tests.support.apps import make_app

    app = make_app(tmp_path / "ttl", MAINTENANCE_STATE_TTL=0.3)
    client = app.test_client()
    assert client.get("/").status_code == 200
    with app.app_context():  # as another worker or the CLI would
        maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t"))
    time.sleep(0.35)
    assert client.get("/").status_code == 503


def test_ends_at_ends_by_the_clock(app, client, activate):
    import time

    activate(ends_at="1s")
    assert client.get("/").status_code == 503
    time.sleep(1.1)
    assert client.get("/").status_code == 200
