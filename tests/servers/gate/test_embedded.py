"""The embedded gate inside three real host apps, each under a real server, following a running Pausa.

Pausa: gunicorn with the repo's gunicorn.conf.py on SQLite, the background state
refresher, no Redis. Host apps (tests/support/hosts/): Flask under gunicorn (2
workers, preloaded), Django under gunicorn (2 workers), Starlette under uvicorn.
Windows are switched through Pausa's JSON API; every check goes over HTTP to the
host app, as a visitor's browser or client would. About a minute.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.common import get
from tests.support.hosts.servers import (
    HOST_KINDS,
    PAGE,
    pausa_running,
    propagation,
    settled,
    start_host,
    wait_for,
)

# Each switch must reach every worker of every host app within this (no Redis: the feed's long poll).
PROPAGATION_BUDGET = 1.5
JSON_ACCEPT = {"Accept": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def pausa(tmp_path_factory):
    with pausa_running(tmp_path_factory.mktemp("pausa")) as running:
        yield running


@pytest.fixture(scope="module")
def hosts(pausa, tmp_path_factory):
    started = {}
    try:
        for kind in HOST_KINDS:
            directory = tmp_path_factory.mktemp(kind)
            started[kind] = start_host(kind, directory, pausa.url, pausa.gate_token,
                                       state_file=directory / "pausa-feed.json")
        for server in started.values():
            wait_for(lambda server=server: settled(server, 200), 10, f"{server.name} answers its home page")
        yield started
    finally:
        for server in started.values():
            server.kill()


@pytest.fixture(scope="module")
def sessions(hosts):
    """Sign in, on each host app, once as each role the tests use: the host app's own session cookie."""
    cookies = {}
    for kind, server in hosts.items():
        for role in ("developer", "admin", "user", "explode"):
            status, headers, body = get(server.port, f"/login?role={role}")
            assert status == 200, (kind, role, body)
            cookies[kind, role] = headers["set-cookie"].split(";", 1)[0]
    return cookies


def switch(pausa, hosts, **window) -> dict:
    """Start a full window and wait until every worker of every host app enforces it."""
    data = pausa.on(**window)
    for server in hosts.values():
        wait_for(lambda server=server: settled(server, 503), 5, f"{server.name} enforces the window")
    return data


def end(pausa, hosts) -> None:
    pausa.off()
    for server in hosts.values():
        wait_for(lambda server=server: settled(server, 200), 5, f"{server.name} lets requests through again")


def request(server, path, headers=None, method="GET", body=None):
    status, response_headers, content = get(server.port, path, {**PAGE, **(headers or {})}, method=method,
                                            body=body)
    return status, response_headers, content


# --- no window ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", HOST_KINDS)
def test_without_a_window_the_app_answers_everything(hosts, kind):
    server = hosts[kind]
    status, headers, body = request(server, "/")
    assert status == 200 and f"{kind.title()} host home".encode() in body
    assert "x-maintenance" not in headers
    status, _, body = request(server, "/form", FORM, "POST", b"note=hello")
    assert (status, body) == (200, b"saved hello")
    status, _, body = request(server, "/api/items", JSON_ACCEPT)
    assert status == 200 and json.loads(body)["host"] == kind
    status, _, body = request(server, "/webhooks/payment", JSON_ACCEPT, "POST", b"{}")
    assert status == 200 and json.loads(body)["received"] is True


def test_the_starlette_app_still_gets_its_lifespan_events(hosts):
    status, _, body = request(hosts["starlette"], "/")
    assert status == 200 and b"lifespan ran: True" in body


# --- a full window ---------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def full_window(pausa, hosts, sessions):  # signed in before the window starts
    data = switch(pausa, hosts, message="Upgrading the shop", allowed_roles=["developer"])
    yield data
    end(pausa, hosts)


@pytest.mark.usefixtures("full_window")
class TestFullWindow:
    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_a_browser_gets_the_maintenance_page_with_the_headers(self, hosts, kind):
        status, headers, body = request(hosts[kind], "/")
        assert status == 503
        assert headers["x-maintenance"] == "active"
        assert headers["cache-control"] == "no-store"
        assert 30 <= int(headers["retry-after"]) <= 3600
        assert headers["content-type"].startswith("text/html")
        assert int(headers["content-length"]) == len(body)
        assert b"Upgrading the shop" in body
        assert f"{kind.title()} host home".encode() not in body

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_api_paths_and_json_clients_get_json(self, hosts, kind):
        for path, headers in (("/api/items", {}), ("/", JSON_ACCEPT)):
            status, response_headers, body = request(hosts[kind], path, headers)
            assert status == 503, path
            assert response_headers["content-type"] == "application/json"
            assert response_headers["x-maintenance"] == "active"
            data = json.loads(body)
            assert data["error"] == "maintenance" and data["message"] == "Upgrading the shop"
            assert data["status_url"].endswith("/status.json")

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_htmx_requests_get_a_refresh(self, hosts, kind):
        status, headers, _ = request(hosts[kind], "/", {"HX-Request": "true", "Accept": "*/*"})
        assert status == 503 and headers["hx-refresh"] == "true"

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_a_blocked_form_post_is_told_it_was_not_saved(self, hosts, kind):
        status, headers, body = request(hosts[kind], "/form", FORM, "POST", b"note=lost")
        assert status == 503 and headers["x-maintenance"] == "active"
        assert b"saved lost" not in body

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_the_allowlisted_webhooks_still_reach_the_app(self, hosts, kind):
        status, _, body = request(hosts[kind], "/webhooks/payment", JSON_ACCEPT, "POST", b"{}")
        assert status == 200 and json.loads(body) == {"received": True, "host": kind}
        # Segment boundaries: a look-alike path is not the allowlisted one.
        assert request(hosts[kind], "/webhooksx")[0] == 503
        assert request(hosts[kind], "/webhooks/../form", FORM, "POST", b"note=x")[0] == 503

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_the_host_apps_own_staff_pass_by_role(self, hosts, sessions, kind):
        for role, passes in (("developer", True), ("admin", True), ("user", False)):
            status, _, body = request(hosts[kind], "/", {"Cookie": sessions[kind, role]})
            if passes:
                assert status == 200 and f"Signed in as: {role}".encode() in body, role
            else:
                assert status == 503, role
        status, _, body = request(hosts[kind], "/form", {**FORM, "Cookie": sessions[kind, "developer"]},
                                  "POST", b"note=staff")
        assert (status, body) == (200, b"saved staff")

    def test_a_viewer_that_raises_counts_as_anonymous(self, hosts, sessions):
        for _ in range(3):  # logged once, answered every time
            assert request(hosts["flask"], "/", {"Cookie": sessions["flask", "explode"]})[0] == 503
        assert request(hosts["flask"], "/", {"Cookie": sessions["flask", "developer"]})[0] == 200

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_the_pages_assets_and_poll_load_through_the_prefix(self, hosts, kind):
        server = hosts[kind]
        _, _, body = request(server, "/")
        assets = set(re.findall(r'(?:src|href)="(/_pausa/[^"#]+)"', body.decode()))
        assert any(asset.endswith(".css") for asset in assets), assets
        assert any(asset.endswith(".js") for asset in assets), assets
        for asset in assets:
            status, headers, content = request(server, asset.replace("&amp;", "&"), {"Accept": "*/*"})
            if "/language" in asset:  # the language switcher sets its cookie and goes back
                assert status == 303 and headers["set-cookie"].startswith("pausa_lang="), asset
            else:
                assert status == 200 and content, (asset, status, content[:200])
        poll = re.search(r'data-hx-get="(/_pausa/[^"]+)"', body.decode())
        assert poll is not None, "the page polls under the prefix"
        status, headers, content = request(server, poll.group(1).replace("&amp;", "&"),
                                           {"HX-Request": "true", "Accept": "*/*"})
        assert status == 200 and b"Upgrading the shop" in content
        status, headers, content = request(server, "/_pausa/status.json", JSON_ACCEPT)
        assert status == 200 and json.loads(content)["active"] is True

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_a_bypass_link_opened_on_the_host_app_lets_that_browser_through(self, pausa, hosts, kind):
        server = hosts[kind]
        link = pausa.bypass_link()
        assert link.startswith("/_pausa/bypass/")
        status, headers, _ = request(server, link)
        assert status in (302, 303), status
        assert headers["location"] in ("/", f"http://127.0.0.1:{server.port}/"), headers["location"]
        cookie = headers["set-cookie"]
        assert cookie.startswith("pausa_bypass=") and "Domain" not in cookie, cookie
        value = cookie.split(";", 1)[0]
        # The new link reaches the host app with the next state version, like any change.
        wait_for(lambda: settled(server, 200, "/", {"Cookie": value}), PROPAGATION_BUDGET,
                 "the bypass cookie lets the browser through on every worker")
        status, _, body = request(server, "/", {"Cookie": value})
        assert status == 200 and f"{kind.title()} host home".encode() in body
        # A forged cookie lets nobody through.
        forged = value[: value.index(".") + 1] + "forged"
        assert request(server, "/", {"Cookie": forged})[0] == 503

    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_the_subscribe_form_posts_through_the_prefix(self, hosts, kind):
        server = hosts[kind]
        _, _, body = request(server, "/")
        action = re.search(r'<form[^>]*action="(/_pausa/[^"]*subscribe[^"]*)"', body.decode())
        assert action is not None, "the page carries the subscribe form under the prefix"
        origin = f"http://127.0.0.1:{server.port}"
        status, _, content = request(server, action.group(1), {**FORM, "Origin": origin}, "POST",
                                     f"email={kind}@example.com".encode())
        assert status == 200, content[:300]


# --- read_only and scoped ------------------------------------------------------------------------------


@pytest.fixture(scope="class")
def read_only_window(pausa, hosts):
    data = pausa.on(message="Read-only for a while", mode="read_only")
    for server in hosts.values():
        wait_for(lambda server=server: writes_answer(server, 503) and settled(server, 200), 5,
                 f"{server.name} enforces read_only")
    yield data
    pausa.off()
    for server in hosts.values():
        wait_for(lambda server=server: writes_answer(server, 200), 5, f"{server.name} takes writes again")


def writes_answer(server, status: int) -> bool:
    """Tell whether form posts answer `status` on every worker."""
    return settled(server, status, "/form", FORM, "POST", b"note=w")


@pytest.mark.usefixtures("read_only_window")
class TestReadOnlyWindow:
    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_reads_pass_and_writes_are_blocked(self, hosts, kind):
        server = hosts[kind]
        assert request(server, "/")[0] == 200
        assert request(server, "/api/items", JSON_ACCEPT)[0] == 200
        status, headers, body = request(server, "/form", FORM, "POST", b"note=lost")
        assert status == 503 and headers["x-maintenance"] == "active"
        assert request(server, "/webhooks/payment", JSON_ACCEPT, "POST", b"{}")[0] == 200


@pytest.fixture(scope="class")
def scoped_window(pausa, hosts):
    data = pausa.on(message="The API rests", mode="scoped", scope_paths=["/api"])
    for server in hosts.values():
        wait_for(lambda server=server: settled(server, 503, "/api/items"), 5, f"{server.name} enforces scoped")
    yield data
    pausa.off()
    for server in hosts.values():
        wait_for(lambda server=server: settled(server, 200, "/api/items"), 5, f"{server.name} serves the API")


@pytest.mark.usefixtures("scoped_window")
class TestScopedWindow:
    @pytest.mark.parametrize("kind", HOST_KINDS)
    def test_only_the_scope_is_blocked(self, hosts, kind):
        server = hosts[kind]
        status, headers, body = request(server, "/api/items")
        assert status == 503 and json.loads(body)["mode"] == "scoped"
        assert request(server, "/API/items")[0] == 503  # case-insensitively
        assert request(server, "/")[0] == 200
        assert request(server, "/form", FORM, "POST", b"note=ok")[0] == 200


# --- propagation ---------------------------------------------------------------------------------------


def every_host(hosts, want: int, started: float) -> dict[str, float]:
    """Probe every host app at once (one thread each) from `started`; return each one's propagation."""
    with ThreadPoolExecutor(len(hosts)) as pool:
        futures = {kind: pool.submit(propagation, server, want, started) for kind, server in hosts.items()}
        return {kind: future.result() for kind, future in futures.items()}


def test_a_switch_reaches_every_host_app_within_the_budget_without_redis(pausa, hosts, capsys):
    figures = {}
    for round_number in range(3):
        pausa.on(message=f"Propagation round {round_number}")
        on = every_host(hosts, 503, time.monotonic())
        pausa.off()
        off = every_host(hosts, 200, time.monotonic())
        for kind in HOST_KINDS:
            figures.setdefault((kind, "on"), []).append(on[kind])
            figures.setdefault((kind, "off"), []).append(off[kind])
    with capsys.disabled():  # the figures belong in the test log, passed or not
        print("\nembedded gate propagation without Redis (API call returned -> every worker enforces), s:")
        for (kind, direction), values in sorted(figures.items()):
            print(f"  {kind:<9} {direction:<3} " + "  ".join(f"{value:.3f}" for value in values))
    worst = {key: max(values) for key, values in figures.items()}
    assert all(value <= PROPAGATION_BUDGET for value in worst.values()), worst


# --- websockets (Starlette's TestClient drives the ASGI gate in-process, following the same Pausa) ------


def websocket_app(pausa):
    """A Starlette app with one websocket route, under the ASGI gate (built here: uvicorn has no ws library)."""
    from pausa_gate.asgi import PausaGateASGI
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("hello from the host app")
        await websocket.close()

    return PausaGateASGI(Starlette(routes=[WebSocketRoute("/ws", echo)]), url=pausa.url, token=pausa.gate_token)


def test_a_websocket_opens_without_a_window(pausa, hosts):
    from starlette.testclient import TestClient

    gated = websocket_app(pausa)
    try:
        with TestClient(gated) as client, client.websocket_connect("/ws") as websocket:
            assert websocket.receive_text() == "hello from the host app"
        assert gated.follower.known
    finally:
        gated.follower.stop()


@pytest.mark.usefixtures("full_window")
def test_a_blocked_websocket_is_closed_with_try_again_later(pausa):
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    gated = websocket_app(pausa)
    try:
        with (
            TestClient(gated) as client,
            client.websocket_connect("/ws") as websocket,
            pytest.raises(WebSocketDisconnect) as closed,
        ):
            websocket.receive_text()
        assert closed.value.code == 1013
        assert "try again later" in closed.value.reason
    finally:
        gated.follower.stop()
