"""Bad input (issue 10): every entry point answers a clear 4xx naming the field, and stores nothing.

One table of bad values per kind (dates that overflow, times absurdly far ahead, NUL bytes and
lone surrogates, JSON nested 200,000 deep, webhook bodies that are not UTF-8) crossed with the
entry points that take them: the JSON API, the dashboard forms, the audit and analytics filters,
the CSV export, the CLI, the login form, the demo site and the webhook receivers. Run it with
TEST_DATABASE_URL set too: PostgreSQL refuses NUL in text, which is where the 500s came from.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, select

from app.demo.models import DemoItem
from app.extensions import db
from app.maintenance.signatures import standard_headers, stripe_signature
from app.models import AuditEntry, MaintenanceWindow, WebhookEvent
from app.services import tokens as token_service

API = "/api/admin/maintenance"
STRIPE_SECRET = "whsec_test_primary"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# A time whose conversion to UTC falls past year 9999 (or before year 1): datetime overflows.
OVERFLOWING_DATES = ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]
# Parseable, in range, but absurd as the end or start of a maintenance window.
FAR_AHEAD = ["9999-12-31T00:00:00Z", "99999d", "3000-01-01"]
# Text the database cannot store (PostgreSQL refuses NUL; no UTF-8 encodes a lone surrogate).
UNSTORABLE_TEXT = ["before\x00after", "lone \ud800 surrogate"]
DEEP_JSON = b"[" * 200_000 + b"]" * 200_000


@pytest.fixture
def bearer(app):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def admin(client, auth):
    """Sign in as an admin and return a CSRF token for the dashboard's forms."""
    auth.login("admin")
    return auth.csrf()


def count(app, model) -> int:
    """Count `model`'s rows; for the audit trail, leave out the bearer token's own use (not the input's)."""
    with app.app_context():
        query = select(func.count()).select_from(model)
        if model is AuditEntry:
            query = query.where(AuditEntry.action != "token.used")
        return db.session.scalar(query)


@contextmanager
def stores_nothing(app, *models):
    """Assert that the block adds no row to any of `models` (the audit trail always included)."""
    models = (*models, AuditEntry)
    before = {model: count(app, model) for model in models}
    yield
    assert {model: count(app, model) for model in models} == before


# -- dates that overflow, times absurdly far ahead: API, dashboard, filters, export, CLI ------------


@pytest.mark.parametrize("moment", OVERFLOWING_DATES + FAR_AHEAD)
@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        (API, "eta", {}),
        (API, "ends_at", {}),
        (f"{API}/windows", "starts_at", {}),
        (f"{API}/windows", "eta", {"starts_at": "2h"}),
    ],
)
def test_api_refuses_a_time_out_of_range(app, client, bearer, path, field, extra, moment):
    with stores_nothing(app, MaintenanceWindow):
        response = client.post(path, json={**extra, field: moment}, headers=bearer)
    assert response.status_code == 400
    assert response.json["error"] == "validation"
    assert set(response.json["fields"]) == {field}


@pytest.mark.parametrize("moment", OVERFLOWING_DATES + FAR_AHEAD)
@pytest.mark.parametrize(
    ("path", "field", "extra"),
    [
        ("/admin/maintenance/activate", "eta", {}),
        ("/admin/maintenance/activate", "ends_at", {}),
        ("/admin/windows", "starts_at", {}),
        ("/admin/windows", "ends_at", {"starts_at": "2h"}),
    ],
)
def test_dashboard_form_refuses_a_time_out_of_range(app, client, admin, path, field, extra, moment):
    with stores_nothing(app, MaintenanceWindow):
        response = client.post(path, data={"csrf_token": admin, **extra, field: moment})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in page or "error" in page


def test_far_ahead_message_says_the_limit(client, bearer):
    response = client.post(API, json={"eta": "400d"}, headers=bearer)
    assert response.status_code == 400
    assert "year" in response.json["fields"]["eta"]
    assert client.post(API, json={"eta": "300d"}, headers=bearer).status_code == 201


@pytest.mark.parametrize("moment", OVERFLOWING_DATES)
def test_dashboard_preview_ignores_an_overflowing_eta(client, admin, moment):
    response = client.post("/admin/preview", data={"csrf_token": admin, "eta": moment, "message": "Hi"})
    assert response.status_code == 200


@pytest.mark.parametrize("moment", OVERFLOWING_DATES)
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/audit", "since"),
        ("/admin/audit", "until"),
        ("/admin/audit/export.csv", "since"),
        ("/admin/audit/export.csv", "until"),
        ("/admin/analytics", "since"),
        ("/admin/analytics", "until"),
    ],
)
def test_filters_refuse_an_overflowing_date(client, admin, path, field, moment):
    response = client.get(path, query_string={field: moment})
    assert response.status_code == 400
    assert "ISO-8601" in response.get_data(as_text=True)


@pytest.mark.parametrize("moment", OVERFLOWING_DATES)
def test_cli_refuses_an_overflowing_date(app, runner, moment):
    exported = runner.invoke(args=["audit", "export", "--since", moment])
    assert exported.exit_code == 2
    assert "--since" in exported.output
    with stores_nothing(app, MaintenanceWindow):
        result = runner.invoke(args=["maintenance", "on", "--eta", moment])
    assert result.exit_code == 2
    assert "eta" in result.output and "Traceback" not in result.output


# -- NUL bytes and lone surrogates in any text field -------------------------------------------------


@pytest.mark.parametrize("text", UNSTORABLE_TEXT)
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "{text}"}, "message"),
        ({"mode": "scoped", "scope_paths": ["/billing/{text}"]}, "scope_paths"),
        ({"reason": "{text}"}, "reason"),
        ({"allowed_roles": ["{text}"]}, "allowed_roles"),
        ({"allowed_ips": ["{text}"]}, "allowed_ips"),
    ],
)
def test_api_refuses_unstorable_text(app, client, bearer, body, field, text):
    body = json.loads(json.dumps(body).replace("{text}", json.dumps(text)[1:-1]))
    with stores_nothing(app, MaintenanceWindow):
        response = client.post(API, json=body, headers=bearer)
    assert response.status_code == 400
    assert set(response.json["fields"]) == {field}


@pytest.mark.parametrize("text", UNSTORABLE_TEXT)
def test_api_update_refuses_unstorable_text(app, client, bearer, text):
    assert client.post(API, json={"message": "Deploying"}, headers=bearer).status_code == 201
    with stores_nothing(app, MaintenanceWindow):
        response = client.patch(API, json={"message": text}, headers=bearer)
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"message"}
    assert client.get(API, headers=bearer).json["window"]["message"] == "Deploying"


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        ("/admin/maintenance/activate", {"message": "a\x00b"}, "message"),
        ("/admin/maintenance/activate", {"mode": "scoped", "scope_paths": "/a\x00b"}, "scope_paths"),
        ("/admin/windows", {"starts_at": "2h", "message": "a\x00b"}, "message"),
    ],
)
def test_dashboard_form_refuses_nul(app, client, admin, path, data, field):
    with stores_nothing(app, MaintenanceWindow):
        response = client.post(path, data={"csrf_token": admin, **data})
    assert response.status_code == 422
    assert "invalid characters" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/admin/audit", "action"),
        ("/admin/audit", "actor"),
        ("/admin/audit", "since"),
        ("/admin/audit/export.csv", "actor"),
        ("/admin/analytics", "until"),
    ],
)
def test_filters_refuse_nul(client, admin, path, field):
    response = client.get(path, query_string={field: "x\x00y"})
    assert response.status_code == 400
    if path == "/admin/audit":
        assert f'id="{field}-error"' in response.get_data(as_text=True)  # next to the field


def test_cli_refuses_unstorable_text(app, runner):
    # A shell cannot pass NUL, but an argument that is not UTF-8 reaches Python as a lone surrogate.
    with stores_nothing(app, MaintenanceWindow):
        result = runner.invoke(args=["maintenance", "on", "--message", "bad \udcff byte"])
    assert result.exit_code == 2
    assert "message" in result.output and "Traceback" not in result.output
    exported = runner.invoke(args=["audit", "export", "--actor", "x\x00y"])
    assert exported.exit_code == 2
    assert "--actor" in exported.output


@pytest.mark.parametrize("email", ["admin@example.com\x00", "\x00"])
def test_login_refuses_nul_in_the_email(app, client, email):
    from tests.support.apps import PASSWORD, csrf_from

    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    with stores_nothing(app):
        response = client.post(
            "/auth/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
    assert response.status_code == 400
    assert "valid email" in response.get_data(as_text=True)


@pytest.mark.parametrize("name", UNSTORABLE_TEXT)
def test_demo_item_refuses_unstorable_text(app, client, name):
    with stores_nothing(app, DemoItem):
        response = client.post("/api/v1/items", json={"name": name})
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"name"}


def test_account_note_refuses_nul(client, auth):
    auth.login("user")
    token = auth.csrf("/account")
    response = client.post("/account", data={"note": "a\x00b", "csrf_token": token})
    assert response.status_code == 400


# -- JSON nested 200,000 deep ------------------------------------------------------------------


@pytest.mark.parametrize("path", [API, f"{API}/windows", f"{API}/bypass-links"])
def test_api_refuses_deeply_nested_json(app, client, bearer, path):
    with stores_nothing(app, MaintenanceWindow):
        response = client.post(
            path, data=DEEP_JSON, headers={**bearer, "Content-Type": "application/json"}
        )
    assert response.status_code == 400
    assert "nested" in response.json["fields"]["body"]


def test_demo_item_refuses_deeply_nested_json(app, client):
    with stores_nothing(app, DemoItem):
        response = client.post("/api/v1/items", data=DEEP_JSON, content_type="application/json")
    assert response.status_code == 400


# -- webhooks: ids with NUL, bodies that are not UTF-8 JSON, too deep, too long ------------------


def stripe_post(client, payload: bytes):
    stamp = int(time.time())
    signature = stripe_signature(STRIPE_SECRET, stamp, payload)
    return client.post(
        "/webhooks/stripe", data=payload,
        headers={"Stripe-Signature": f"t={stamp},v1={signature}", "Content-Type": "application/json"},
    )


def standard_post(client, payload: bytes, message_id: str = "msg_1"):
    headers = standard_headers(STANDARD_SECRET, message_id, int(time.time()), payload)
    return client.post("/webhooks/standard", data=payload, headers={**headers, "Content-Type": "application/json"})


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id": "evt_\\u0000", "type": "charge.succeeded"}',
        b'{"id": "evt_\\ud800", "type": "charge.succeeded"}',
        b'{"id": "evt_1", "type": "charge.\\u0000"}',
        json.dumps({"id": "evt_1", "type": "charge.succeeded"}).encode("utf-16"),
        b'\xef\xbb\xbf{"id": "evt_1"}',  # a byte-order mark: not what the worker can parse
        b'{"id": "evt_1", "type": "caf\xe9"}',  # Latin-1, not UTF-8
        DEEP_JSON,
    ],
    ids=["nul-id", "surrogate-id", "nul-type", "utf-16", "bom", "latin-1", "deep"],
)
def test_stripe_refuses_a_signed_event_it_cannot_store(app, client, payload):
    with stores_nothing(app, WebhookEvent):
        response = stripe_post(client, payload)
    assert response.status_code == 400
    assert response.json["error"] == "payload"


@pytest.mark.parametrize(
    ("payload", "message_id"),
    [
        (b'{"type": "a"}', "msg_\x00"),
        (b'{"type": "a\\u0000"}', "msg_1"),
        (json.dumps({"type": "a"}).encode("utf-16"), "msg_1"),
        (b'{"type": "caf\xe9"}', "msg_1"),
        (DEEP_JSON, "msg_1"),
    ],
    ids=["nul-id", "nul-type", "utf-16", "latin-1", "deep"],
)
def test_standard_refuses_a_signed_event_it_cannot_store(app, client, payload, message_id):
    with stores_nothing(app, WebhookEvent):
        response = standard_post(client, payload, message_id)
    assert response.status_code == 400
    assert response.json["error"] == "payload"


@pytest.fixture
def served(app):
    """Serve the app on a real socket (werkzeug's server reads chunked bodies as gunicorn does)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(timeout=5)


def chunked_post(port: int, path: str, headers: dict[str, str], payload: bytes) -> int:
    """POST `payload` with Transfer-Encoding: chunked (no Content-Length), 64 KiB a chunk; return the status."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        head = [f"POST {path} HTTP/1.1", "Host: localhost", "Transfer-Encoding: chunked", "Connection: close"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        try:
            for start in range(0, len(payload), 65536):
                chunk = payload[start:start + 65536]
                connection.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            connection.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer 413 and close before reading everything
        answer = b""
        while b"\r\n" not in answer:
            data = connection.recv(4096)
            if not data:
                break
            answer += data
    return int(answer.split(b" ", 2)[1])


def big_stripe_event(size: int) -> bytes:
    body = json.dumps({"id": f"evt_{size}", "type": "charge.succeeded", "padding": ""}).encode()
    return body.replace(b'"padding": ""', b'"padding": "' + b"x" * (size - len(body)) + b'"')


@pytest.mark.parametrize(("size", "status"), [(64 * 1024, 200), (1024 * 1024, 200), (1024 * 1024 + 1, 413), (2 * 1024 * 1024, 413)])
def test_chunked_stripe_body_over_the_limit_is_413(app, served, size, status):
    payload = big_stripe_event(size)
    assert len(payload) == size
    stamp = int(time.time())
    headers = {
        "Stripe-Signature": f"t={stamp},v1={stripe_signature(STRIPE_SECRET, stamp, payload)}",
        "Content-Type": "application/json",
    }
    assert chunked_post(served, "/webhooks/stripe", headers, payload) == status
    assert count(app, WebhookEvent) == (1 if status == 200 else 0)


def test_chunked_standard_body_over_the_limit_is_413(app, served):
    payload = big_stripe_event(2 * 1024 * 1024)
    headers = {**standard_headers(STANDARD_SECRET, "msg_big", int(time.time()), payload),
               "Content-Type": "application/json"}
    assert chunked_post(served, "/webhooks/standard", headers, payload) == 413
    assert count(app, WebhookEvent) == 0


# -- numbers no row can have, periods too long to draw ---------------------------------------------

TOO_BIG = 2**31  # one past the largest INTEGER id: PostgreSQL fails the query instead of finding nothing


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("patch", f"{API}/windows/{TOO_BIG}"),
        ("delete", f"{API}/windows/{TOO_BIG}"),
        ("delete", f"{API}/bypass-links/{TOO_BIG}"),
    ],
)
def test_api_id_beyond_any_row_is_404(client, bearer, method, path):
    # Werkzeug's router answers 405 for some methods when no rule's converter accepts the number.
    assert getattr(client, method)(path, json={"message": "x"}, headers=bearer).status_code in (404, 405)


def test_api_bypass_link_for_a_window_id_beyond_any_row_is_400(client, bearer):
    response = client.post(f"{API}/bypass-links", json={"window_id": TOO_BIG}, headers=bearer)
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"window_id"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/admin/windows/{TOO_BIG}/edit"),
        ("post", f"/admin/windows/{TOO_BIG}/cancel"),
        ("post", f"/admin/windows/{TOO_BIG}/notify-now"),
        ("post", f"/admin/bypass-links/{TOO_BIG}/revoke"),
        ("post", f"/admin/webhooks/{TOO_BIG}/replay"),
    ],
)
def test_dashboard_id_beyond_any_row_is_404(client, admin, method, path):
    assert getattr(client, method)(path, data={"csrf_token": admin}).status_code == 404


def test_dashboard_bypass_link_for_a_window_id_beyond_any_row_is_refused(app, client, admin):
    response = client.post("/admin/bypass-links", data={"csrf_token": admin, "window_id": str(TOO_BIG)})
    assert response.status_code == 409  # as for any id that names no live window: the panel says so


def test_audit_page_after_an_id_beyond_any_row_is_the_first_page(client, admin):
    assert client.get("/admin/audit", query_string={"before": str(TOO_BIG * 10)}).status_code == 200


@pytest.mark.parametrize("args", [["maintenance", "cancel", str(TOO_BIG)], ["maintenance", "bypass-revoke", str(TOO_BIG)]])
def test_cli_id_beyond_any_row_is_a_usage_error(runner, args):
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert "database" not in result.output


def test_analytics_period_longer_than_ten_years_is_400(client, admin):
    started = time.monotonic()
    response = client.get("/admin/analytics", query_string={"since": "0001-01-01", "until": "9999-12-31"})
    assert response.status_code == 400
    assert "at most 10 years" in response.get_data(as_text=True)
    assert time.monotonic() - started < 1
    assert client.get("/admin/analytics", query_string={"since": "2020-01-01", "until": "2029-12-31"}).status_code == 200
