"""The edge check answers a reverse proxy exactly what Pausa's own gate answers its visitors."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from flask import request_started
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app.maintenance.validation import validate_window
from app.services import bypass as bypass_service
from app.services import maintenance as maintenance_service
from app.services import state as state_service
from tests.support.apps import make_app

ALLOWLIST = ("/hooks", "/healthz")


def asked(client, uri: str, method: str = "GET", convention: str = "traefik", query: str = "", **headers):
    """Ask /gate/check about a request, as a proxy of that convention would."""
    if convention == "nginx":
        described = {"X-Original-URI": uri, "X-Original-Method": method}
    else:
        described = {"X-Forwarded-Uri": uri, "X-Forwarded-Method": method, "X-Forwarded-Host": "shop.example",
                     "X-Forwarded-Proto": "https"}
    return client.get("/gate/check" + query, headers={**described, **headers})


@pytest.fixture
def edge_app(tmp_path):
    return make_app(tmp_path, MAINTENANCE_ALLOWLIST=ALLOWLIST)


@pytest.fixture
def start(edge_app):
    def _start(**fields):
        with edge_app.app_context():
            return maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("t")).id

    return _start


@pytest.fixture
def client(edge_app):
    # A proxy passes the visitor's Cookie header as it is: no cookie jar of the test client's own.
    return edge_app.test_client(use_cookies=False)


@pytest.mark.parametrize("convention", ["traefik", "nginx"])
def test_no_window_lets_everything_through_with_an_empty_200(client, convention):
    for uri in ("/", "/account?tab=1", "/admin", "/api/orders"):
        response = asked(client, uri, convention=convention)
        assert response.status_code == 200, uri
        assert response.data == b""
        # Nothing is scheduled: a proxy may reuse "allowed" for any request, until this second ends.
        until = response.headers["X-Accel-Expires"]
        assert until.startswith("@") and abs(int(until[1:]) - time.time()) <= 1


def test_a_proxy_that_describes_no_request_gets_a_clear_400(client):
    response = client.get("/gate/check")
    assert response.status_code == 400
    assert "X-Forwarded-Uri" in response.get_data(as_text=True)
    assert client.get("/gate/check", headers={"X-Forwarded-Uri": "/", "X-Forwarded-Method": "G E T"}).status_code == 400
    assert client.get("/gate/check", headers={"X-Forwarded-Uri": "/" + "a" * 9000}).status_code == 400
    assert client.get("/gate/check?blocked=500", headers={"X-Forwarded-Uri": "/"}).status_code == 400


@pytest.mark.parametrize("convention", ["traefik", "nginx"])
def test_a_full_window_answers_the_maintenance_page_with_the_gates_headers(client, start, convention):
    start(message="Deploying the shop", eta="20m")
    response = asked(client, "/account", convention=convention, **{"Accept-Language": "pt-BR"})
    assert response.status_code == 503
    assert 1190 <= int(response.headers["Retry-After"]) <= 1200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Maintenance"] == "active"
    assert "X-Accel-Expires" not in response.headers
    assert "Content-Security-Policy" in response.headers
    html = response.get_data(as_text=True)
    assert "Deploying the shop" in html and 'lang="pt-BR"' in html
    # Everything the page asks for is under the prefix the proxy routes to Pausa.
    links = re.findall(r'(?:href|src|data-hx-get|action)="(/[^"]*)"', html)
    assert links and all(link.startswith("/_pausa/") for link in links), links


@pytest.mark.parametrize(
    ("label", "uri", "headers"),
    [("api path", "/api/orders", {}), ("accept json", "/orders", {"Accept": "application/json"})],
)
def test_json_clients_get_the_gates_json(client, start, label, uri, headers):
    start(message="Back soon", eta="30m")
    response = asked(client, uri, **headers)
    assert response.status_code == 503
    assert response.headers["X-Maintenance"] == "active"
    body = response.json
    assert body["error"] == "maintenance" and body["message"] == "Back soon" and body["mode"] == "full"
    assert body["status_url"] == "/_pausa/status.json"
    assert body["retry_after"] == int(response.headers["Retry-After"])


def test_htmx_requests_are_told_to_refresh(client, start):
    start()
    response = asked(client, "/cart", **{"HX-Request": "true"})
    assert response.status_code == 503
    assert response.headers["HX-Refresh"] == "true"
    restore = asked(client, "/cart", **{"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "HX-Refresh" not in restore.headers and "<html" in restore.get_data(as_text=True)


def test_pausas_own_paths_are_not_the_protected_systems(client, start):
    start()
    # In-app these always pass; at the edge they are the shop's own paths and are blocked.
    for uri in ("/admin", "/health/live", "/webhooks/stripe", "/maintenance", "/static/app.css", "/gate/check"):
        assert asked(client, uri).status_code == 503, uri
    # The shop's allowlist and Pausa's public prefix pass.
    for uri in ("/hooks/payments", "/healthz", "/_pausa/status.json", "/_pausa/static/css/app.css"):
        assert asked(client, uri, method="POST").status_code == 200, uri


def test_read_only_blocks_writes_and_says_they_were_not_saved(client, start):
    start(mode="read_only")
    assert asked(client, "/account").status_code == 200
    refused = asked(client, "/account", method="POST")
    assert refused.status_code == 503
    assert "Your change was not saved" in refused.get_data(as_text=True)


def test_scoped_blocks_its_paths_whatever_their_case_or_encoding(client, start):
    start(mode="scoped", scope_paths=["/account"])
    assert asked(client, "/").status_code == 200
    for uri in ("/account", "/account/edit?x=1", "/Account", "/%61ccount", "//account", "/shop/../account"):
        assert asked(client, uri).status_code == 503, uri


def test_nginx_gets_an_empty_401_then_the_page(client, start):
    start(message="Nginx flavour")
    refused = asked(client, "/account", convention="nginx", query="?blocked=401")
    assert refused.status_code == 401 and refused.data == b""
    page = client.get("/gate/page", headers={"X-Original-URI": "/account", "X-Original-Method": "POST"})
    assert page.status_code == 503 and "Nginx flavour" in page.get_data(as_text=True)
    assert page.headers["X-Maintenance"] == "active"


def test_the_nginx_page_sends_an_allowed_visitor_back_to_the_same_page(client):
    # The window ended between nginx's two questions: retry the request, on this site only.
    for uri, location in (("/account?tab=2", "/account?tab=2"), ("//evil.example/x", "/"),
                          ("https://evil.example/", "/"), ("/\\evil.example", "/")):
        response = client.get("/gate/page", headers={"X-Original-URI": uri})
        assert response.status_code == 307, uri
        assert response.headers["Location"] == location, uri


def test_forwarded_ips_count_only_from_a_trusted_proxy(tmp_path):
    def answer(app, forwarded_for: str, peer: str = "127.0.0.1") -> int:
        response = app.test_client().get(
            "/gate/check", headers={"X-Forwarded-Uri": "/", "X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": peer},
        )
        return response.status_code

    untrusting = make_app(tmp_path / "a")
    trusting = make_app(tmp_path / "b", GATE_TRUSTED_PROXIES=("127.0.0.1", "10.0.0.0/8"))
    for app in (untrusting, trusting):
        with app.app_context():  # on PostgreSQL (TEST_DATABASE_URL) both apps share one database
            if state_service.current_window() is None:
                fields = {"allowed_ips": ["203.0.113.7"]}
                maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("t"))
    assert answer(untrusting, "203.0.113.7") == 503  # anyone may call /gate/check and claim any IP
    assert answer(trusting, "203.0.113.7") == 200
    assert answer(trusting, "203.0.113.7", peer="198.51.100.9") == 503  # not one of the proxies
    # The client wrote the left part itself; the trusted proxies appended the rest.
    assert answer(trusting, "203.0.113.7, 198.51.100.1") == 503
    assert answer(trusting, "203.0.113.7, 10.1.2.3") == 200
    assert answer(trusting, "garbage") == 503


def test_a_client_cannot_widen_access_with_the_other_conventions_headers(client, start):
    start(mode="scoped", scope_paths=["/account"])
    # Caddy sets X-Forwarded-Uri and passes the client's own X-Original-URI along (and nginx the reverse).
    mixed = {"X-Forwarded-Uri": "/account", "X-Original-URI": "/hooks/payments"}
    assert client.get("/gate/check", headers=mixed).status_code == 503
    mixed = {"X-Forwarded-Uri": "/hooks/payments", "X-Original-URI": "/account"}
    assert client.get("/gate/check", headers=mixed).status_code == 503
    methods = {"X-Forwarded-Uri": "/account", "X-Forwarded-Method": "GET", "X-Original-URI": "/account",
               "X-Original-Method": "POST"}
    start_read_only = client.get("/gate/check", headers=methods)
    assert start_read_only.status_code == 503


def test_a_bypass_link_opened_through_the_proxy_lets_that_browser_through(edge_app, client, start):
    window_id = start(message="Testers only")
    with edge_app.app_context():
        link, raw = bypass_service.create_link(Actor("t"), "1h", window_id)
        link_id = link.id
    opened = client.get(f"/_pausa/bypass/{raw}", headers={"Host": "shop.example"})
    assert opened.status_code == 302 and opened.headers["Location"] == "/"
    cookie = opened.headers["Set-Cookie"]
    assert cookie.startswith("pausa_bypass=") and "Path=/" in cookie and "Domain" not in cookie
    value = cookie.split(";", 1)[0]
    assert asked(client, "/account", Cookie=value).status_code == 200
    assert asked(client, "/account", Cookie="pausa_bypass=forged").status_code == 503
    with edge_app.app_context():
        bypass_service.revoke_link(link_id, Actor("t"))
    assert asked(client, "/account", Cookie=value).status_code == 503


def test_allowed_answers_are_reusable_only_while_nothing_can_start(client, edge_app):
    from app.services import scheduling

    with edge_app.app_context():
        starts = utcnow() + timedelta(seconds=2)
        fields = {"starts_at": starts.isoformat(), "ends_at": (starts + timedelta(hours=1)).isoformat()}
        scheduling.schedule_window(validate_window(fields, utcnow()), Actor("t"))
    response = asked(client, "/")
    assert response.status_code == 200
    assert "X-Accel-Expires" not in response.headers, "a window starts within the reuse period"


def test_visitors_reach_the_page_assets_and_poll_under_the_prefix(client, start):
    start(message="Prefix", eta="10m")
    assert client.get("/_pausa/static/css/app.css").status_code == 200
    assert client.get("/_pausa/static/js/app.js").status_code == 200
    poll = client.get("/_pausa/status?active=1", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "Prefix" in poll.get_data(as_text=True)
    assert client.get("/_pausa/status.json").json["active"] is True
    switched = client.get("/_pausa/language?lang=pt_BR", headers={"Referer": "http://localhost/account"})
    assert switched.status_code == 303 and switched.headers["Location"] == "/account"


def test_the_fast_path_answers_checks_without_flask_exactly_as_flask_does(tmp_path):
    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0, MAINTENANCE_ALLOWLIST=ALLOWLIST)
    flask_requests: list[int] = []
    request_started.connect(lambda sender, **extra: flask_requests.append(1), app, weak=False)
    client = app.test_client()
    quiet = [asked(client, "/account") for _ in range(10)]
    assert all(r.status_code == 200 and r.data == b"" for r in quiet)
    assert len(flask_requests) <= 1  # the first request loads the state
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Fast edge"}, utcnow()), Actor("t"))
    before = len(flask_requests)
    blocked = [asked(client, "/account") for _ in range(10)]
    assert len(flask_requests) - before <= 2  # Flask renders once; the rest share it
    for response in blocked:
        assert response.status_code == 503 and "Fast edge" in response.get_data(as_text=True)
        for name in ("Cache-Control", "X-Maintenance", "Content-Security-Policy", "Content-Type"):
            assert response.headers[name] == blocked[0].headers[name], name
    before = len(flask_requests)
    assert asked(client, "/hooks/x").status_code == 200
    assert asked(client, "/api/orders").json["message"] == "Fast edge"
    assert asked(client, "/x", **{"HX-Request": "true"}).headers["HX-Refresh"] == "true"
    assert asked(client, "/x", query="?blocked=401").status_code == 401
    assert len(flask_requests) == before


def test_bypass_links_are_made_on_the_protected_site(tmp_path):
    app = make_app(tmp_path, GATE_SITE_URL="https://shop.example")
    with app.app_context():
        window_id = maintenance_service.activate_window(validate_window({}, utcnow()), Actor("t")).id
    result = app.test_cli_runner().invoke(args=["maintenance", "bypass-link", "--window", str(window_id)])
    url = result.stdout.strip().splitlines()[0]
    assert url.startswith("https://shop.example/_pausa/bypass/"), result.output
