"""Pausa in front of an app that is not Pausa: every behaviour of the gate through nginx and Caddy.

The sample shop (examples/shop) sits behind nginx and Caddy, both configured from examples/edge
unchanged, with Pausa beside it; windows are switched with Pausa's own CLI, as an operator would.
Each behaviour test runs through both proxies.
"""

from __future__ import annotations

import contextlib
import html
import http.client
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

from bench import edge_stack
from bench.common import BIN, ROOT, free_port
from tests.support.edge import CookieJar, Pausa, pausa_env, request, wait_for_status

PAGE = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_BODY = {"Content-Type": "application/json", "Accept": "application/json"}
MAINTENANCE_H1 = "We’ll be right back"
NOT_SAVED = "Your change was not saved"
# How soon after the CLI's change every request through a proxy must follow it.
PROPAGATION_BUDGET = 1.5
# Where in a second the micro-cache test switches the window on (nginx counts whole seconds).
MICRO_CACHE_PHASES = (0.0, 0.35, 0.7)


@contextlib.contextmanager
def window(pausa: Pausa, proxy: edge_stack.Process, *options: str, probe: tuple[str, str] = ("GET", "/"),
           probe_body: bytes | None = None) -> Iterator[float]:
    """Start a window, wait until the proxy blocks `probe`, yield; end it and wait for the shop again."""
    method, path = probe
    started = pausa.on(*options)
    try:
        wait_for_status(proxy.port, path, 503, method=method, headers={**PAGE, **FORM}, body=probe_body)
        yield started
    finally:
        pausa.off()
        wait_for_status(proxy.port, path, 200, method=method, headers={**PAGE, **FORM}, body=probe_body)


def assert_blocked(answer, content_type: str) -> None:
    """The block every proxy must hand over from Pausa: 503 and its three headers."""
    assert answer.status == 503, (answer.status, answer.text[:300])
    assert 30 <= int(answer.headers["retry-after"]) <= 3600
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-maintenance"] == "active"
    assert answer.headers.get("content-type", "").startswith(content_type), answer.headers


def assert_shop(answer, status: int = 200) -> None:
    """The shop answered, not Pausa."""
    assert answer.status == status, (answer.status, answer.text[:300])
    assert "x-maintenance" not in answer.headers


def test_no_window_the_shop_answers(edge):
    home = request(edge.port, "/", headers=PAGE)
    assert_shop(home)
    assert "Welcome to the Corner Shop" in home.text
    assert 'src="/_pausa/static/js/watch.js"' in home.text
    saved = request(edge.port, "/account", "POST", FORM, b"name=Ana+Souza")
    assert_shop(saved)
    assert "Saved: Ana Souza" in saved.text
    orders = request(edge.port, "/api/orders")
    assert_shop(orders)
    assert json.loads(orders.body)["orders"]
    created = request(edge.port, "/api/orders", "POST", JSON_BODY, json.dumps({"item": "Tea"}).encode())
    assert_shop(created, 201)
    assert_shop(request(edge.port, "/admin", headers=PAGE))
    assert_shop(request(edge.port, "/healthz"))


def test_full_window_blocks_like_the_in_app_gate(pausa, edge):
    with window(pausa, edge, "--mode", "full"):
        page = request(edge.port, "/account?tab=orders", headers=PAGE)
        assert_blocked(page, "text/html")
        assert MAINTENANCE_H1 in page.text
        # watch.js asks with HEAD whether the page it is on is blocked now.
        head = request(edge.port, "/account?tab=orders", "HEAD", PAGE)
        assert_blocked(head, "text/html")
        assert head.body == b""

        api = request(edge.port, "/api/orders")
        assert_blocked(api, "application/json")
        assert json.loads(api.body)["error"] == "maintenance"
        asks_json = request(edge.port, "/", headers={"Accept": "application/json"})
        assert_blocked(asks_json, "application/json")
        assert json.loads(asks_json.body)["error"] == "maintenance"

        htmx = request(edge.port, "/account", headers={"HX-Request": "true", "Accept": "*/*"})
        assert_blocked(htmx, "")
        assert htmx.headers["hx-refresh"] == "true"

        # Pausa's own always-allowed paths are Pausa's: the shop's /admin is blocked like any page.
        assert_blocked(request(edge.port, "/admin", headers=PAGE), "text/html")

        webhook = request(edge.port, "/webhooks/payments", "POST", JSON_BODY,
                          json.dumps({"id": "evt_full"}).encode())
        assert_shop(webhook)
        assert json.loads(webhook.body) == {"received": True, "id": "evt_full"}
        assert_shop(request(edge.port, "/healthz"))


def test_nothing_a_client_sends_widens_access(pausa, edge):
    """Forged descriptions of the request, lookalike paths and forged client IPs are all blocked."""
    with window(pausa, edge, "--mode", "full", "--allow-ip", "10.9.9.9"):
        forged = {
            **PAGE,
            "X-Original-URI": "/healthz", "X-Original-Method": "GET",
            "X-Forwarded-Uri": "/webhooks/payments", "X-Forwarded-Method": "GET",
            "X-Forwarded-For": "10.9.9.9", "X-Real-IP": "10.9.9.9",
            "X-Forwarded-Host": "elsewhere.example", "X-Forwarded-Proto": "https",
        }
        assert_blocked(request(edge.port, "/account", "POST", {**forged, **FORM}, b"name=x"), "text/html")
        assert_blocked(request(edge.port, "/admin", headers=forged), "text/html")
        for path in ("/webhooksx", "/webhooks/../account", "/healthz/../admin", "/webhooks/%2e%2e/account",
                     "/webhooks%2F..%2Faccount", "//webhooks/../account"):
            assert_blocked(request(edge.port, path, headers=PAGE), "text/html")


def test_ip_bypass_believes_the_address_the_proxy_saw(pausa, edge):
    """The proxy is trusted (GATE_TRUSTED_PROXIES): the visitor's address it forwards counts, a header does not."""
    office = "127.0.0.2"  # another loopback address: the visitor connects from it, Pausa sees 127.0.0.1
    with window(pausa, edge, "--mode", "full", "--allow-ip", office):
        assert_shop(request(edge.port, "/account", headers=PAGE, source=office))
        saved = request(edge.port, "/account", "POST", FORM, b"name=From+the+office", source=office)
        assert_shop(saved)
        assert "Saved: From the office" in saved.text
        assert_blocked(request(edge.port, "/account", headers={**PAGE, "X-Forwarded-For": office}), "text/html")


def test_read_only_lets_reads_through_and_blocks_writes(pausa, edge):
    with window(pausa, edge, "--mode", "read_only", probe=("POST", "/account"), probe_body=b"name=probe"):
        assert_shop(request(edge.port, "/account", headers=PAGE))
        assert_shop(request(edge.port, "/api/orders"))
        saved = request(edge.port, "/account", "POST", {**PAGE, **FORM}, b"name=During+the+window")
        assert_blocked(saved, "text/html")
        assert NOT_SAVED in saved.text
        created = request(edge.port, "/api/orders", "POST", JSON_BODY, json.dumps({"item": "Tea"}).encode())
        assert_blocked(created, "application/json")
        assert_shop(request(edge.port, "/webhooks/payments", "POST", JSON_BODY, b'{"id": "evt_ro"}'))
    # The write that was refused was never seen by the shop.
    assert "During the window" not in request(edge.port, "/account", headers=PAGE).text


def test_scoped_window_blocks_only_its_paths(pausa, edge):
    with window(pausa, edge, "--mode", "scoped", "--scope", "/account", probe=("GET", "/account")):
        assert_blocked(request(edge.port, "/account", headers=PAGE), "text/html")
        assert_blocked(request(edge.port, "/ACCOUNT/settings", headers=PAGE), "text/html")
        assert_blocked(request(edge.port, "/account", "POST", {**PAGE, **FORM}, b"name=x"), "text/html")
        assert_shop(request(edge.port, "/", headers=PAGE))
        assert_shop(request(edge.port, "/api/orders"))
        assert_shop(request(edge.port, "/accountx", headers=PAGE), 404)  # a segment boundary: not the scope


def test_the_pages_assets_and_poll_load_through_the_proxy(pausa, edge):
    with window(pausa, edge, "--mode", "full"):
        page = request(edge.port, "/", headers=PAGE)
        assert_blocked(page, "text/html")
        stylesheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page.text)
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        polls = re.findall(r'data-hx-get="([^"]+)"', page.text)
        assert stylesheets and scripts and len(polls) == 1, page.text
        for url in map(html.unescape, stylesheets + scripts + polls):
            assert url.startswith("/_pausa/"), f"{url} would reach the shop, not Pausa"
        for url in map(html.unescape, stylesheets + scripts):
            asset = request(edge.port, url)
            assert asset.status == 200, (url, asset.status)
            assert "x-maintenance" not in asset.headers
        poll_url = html.unescape(polls[0])
        poll = request(edge.port, poll_url, headers={"HX-Request": "true", "HX-Current-URL": f"{edge.base}/",
                                                       "Accept": "*/*"})
        assert poll.status == 200, (poll_url, poll.status, poll.text[:300])
        assert 'id="maintenance-status"' in poll.text
        status = request(edge.port, "/_pausa/status.json")
        assert status.status == 200
        assert json.loads(status.body)["active"] is True
    # Once the window is over, the page's poll tells the browser to reload the URL it is on.
    ended = request(edge.port, poll_url, headers={"HX-Request": "true", "HX-Current-URL": f"{edge.base}/",
                                                    "Accept": "*/*"})
    assert ended.headers.get("hx-refresh") == "true", (ended.status, ended.headers)


def test_a_bypass_link_opened_through_the_proxy_lets_that_browser_through(pausa, edge):
    with window(pausa, edge, "--mode", "full"):
        link = pausa.bypass_link(edge.base)
        assert link.startswith(f"{edge.base}/_pausa/bypass/"), link
        tester = CookieJar()
        opened = tester.request(edge.port, urlsplit(link).path, headers=PAGE)
        assert opened.status in (302, 303), (opened.status, opened.text[:300])
        assert urlsplit(opened.headers["location"]).path == "/"
        assert "pausa_bypass" in tester.cookies
        # A new link is a state change like any other: every Pausa worker knows it within the budget.
        deadline = time.monotonic() + PROPAGATION_BUDGET
        answer = tester.request(edge.port, "/", headers=PAGE)
        while answer.status == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
            answer = tester.request(edge.port, "/", headers=PAGE)
        assert_shop(answer)
        saved = tester.request(edge.port, "/account", method="POST", headers=FORM, body=b"name=Tester")
        assert_shop(saved)
        assert "Saved: Tester" in saved.text
        # Everyone else is still blocked.
        assert_blocked(request(edge.port, "/", headers=PAGE), "text/html")


def test_the_shop_answers_again_within_the_budget_after_the_window(pausa, edge):
    started = pausa.on("--mode", "full")
    blocked = wait_for_status(edge.port, "/", 503, headers=PAGE)
    ended = pausa.off()
    back = wait_for_status(edge.port, "/", 200, headers=PAGE)
    print(f"\n{edge.name}: blocked {blocked - started:.3f} s after `flask maintenance on` committed, "
          f"the shop answered again {back - ended:.3f} s after `flask maintenance off` committed")
    assert back - ended <= PROPAGATION_BUDGET


def test_the_micro_cache_never_lets_a_request_through_late(pausa, proxies):
    """Hammer nginx while a window starts: after the budget, not one request reaches the shop.

    nginx keeps a cached answer for whole seconds, so how late the last request gets through
    depends on where in its second the switch falls: switch at several points of the second.
    """
    nginx = proxies["nginx"]
    worst = 0.0
    for phase in MICRO_CACHE_PHASES:
        checks_before = pausa_checks(pausa)
        with hammering(nginx.port) as samples:
            time.sleep(2.0)
            warm = len(samples)
            checks_warm = pausa_checks(pausa) - checks_before
            time.sleep((phase - time.time()) % 1.0)  # start the command at this point of a second
            switched = pausa.on("--mode", "full")
            time.sleep(PROPAGATION_BUDGET + 1.5)
        pausa.off()
        late = [sent - switched for sent, status in samples if status == 200 and sent > switched]
        after_budget = [(round(sent - switched, 3), status) for sent, status in samples
                        if sent > switched + PROPAGATION_BUDGET and status != 503]
        last = max(late, default=0.0)
        worst = max(worst, last)
        print(f"\nnginx micro-cache, switch at {phase:.2f} of a second: {warm} requests in 2 s with no "
              f"window reached Pausa {checks_warm} times; the last request let through was sent "
              f"{last:.3f} s after `flask maintenance on` committed ({len(samples)} requests)")
        assert warm > 200
        assert checks_warm < warm / 10, "the micro-cache did not answer most checks"
        assert not after_budget, after_budget[:5]
        assert any(sent > switched + PROPAGATION_BUDGET for sent, _ in samples)
        wait_for_status(nginx.port, "/", 200, headers=PAGE)
    print(f"nginx micro-cache: worst {worst:.3f} s (budget {PROPAGATION_BUDGET} s)")


@contextlib.contextmanager
def hammering(port: int, connections: int = 8) -> Iterator[list[tuple[float, int]]]:
    """GET / on `connections` keep-alive connections until the block ends; yield (sent, status) samples."""
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def hammer() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not stop.is_set():
            sent = time.monotonic()
            connection.request("GET", "/", headers=PAGE)
            answer = connection.getresponse()
            answer.read()
            samples.append((sent, answer.status))

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    try:
        yield samples
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


def pausa_checks(pausa: Pausa) -> int:
    """How many /gate/check requests Pausa's access log holds so far."""
    return pausa.log_path.read_text(errors="replace").count("/gate/check")


@contextlib.contextmanager
def own_pausa(directory) -> Iterator[tuple[Pausa, edge_stack.Process]]:
    """A Pausa of this test's own, under the repo's gunicorn.conf.py, that the test may stop or freeze."""
    directory.mkdir(parents=True, exist_ok=True)
    env = pausa_env(directory)
    port = free_port()
    env.update(PORT=str(port), WEB_CONCURRENCY="2", PROMETHEUS_MULTIPROC_DIR=str(directory / "metrics"))
    (directory / "metrics").mkdir()
    pausa = Pausa(env, port, directory / "gunicorn.log")
    pausa.cli("db", "upgrade")
    command = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "wsgi:app"]
    with edge_stack.running("pausa", command, port, pausa.log_path, cwd=ROOT, env=env,
                            ready=lambda port: request(port, "/health/live").status == 200) as process:
        yield pausa, process


def test_when_pausa_is_unreachable_the_shop_keeps_serving(tmp_path, shop):
    """Pausa is never a single point of failure: frozen or stopped, both proxies let requests through."""
    with contextlib.ExitStack() as stack:
        pausa, process = stack.enter_context(own_pausa(tmp_path / "pausa"))
        proxies = [stack.enter_context(edge_stack.nginx(tmp_path, shop.port, process.port)),
                   stack.enter_context(edge_stack.caddy(tmp_path, shop.port, process.port))]
        pausa.on("--mode", "full")
        for proxy in proxies:
            wait_for_status(proxy.port, "/", 503, headers=PAGE)

        # Frozen (a hung process): each proxy waits out its timeout with Pausa, then lets it through.
        os.killpg(process.process.pid, signal.SIGSTOP)
        try:
            for proxy in proxies:
                started = time.monotonic()
                answer = request(proxy.port, "/account", "POST", FORM, b"name=While+Pausa+hangs", timeout=15)
                took = time.monotonic() - started
                print(f"\n{proxy.name}, Pausa frozen: {answer.status} after {took:.2f} s")
                assert_shop(answer)
                assert "Saved: While Pausa hangs" in answer.text
                assert took < 5
        finally:
            os.killpg(process.process.pid, signal.SIGCONT)

        # Stopped: refused at once, so let through at once.
        edge_stack.stop(process.process)
        for proxy in proxies:
            started = time.monotonic()
            home = request(proxy.port, "/", headers=PAGE)
            took = time.monotonic() - started
            print(f"{proxy.name}, Pausa stopped: {home.status} after {took * 1000:.0f} ms")
            assert_shop(home)
            assert took < 1
            saved = request(proxy.port, "/account", "POST", FORM, b"name=While+Pausa+is+down")
            assert_shop(saved)
            assert "Saved: While Pausa is down" in saved.text
            # Pausa's own pages are what is missing.
            assert request(proxy.port, "/_pausa/status.json").status in (502, 503, 504)


def test_the_recipes_use_exactly_the_three_variables():
    """LISTEN_PORT, APP_UPSTREAM and PAUSA_UPSTREAM, and nothing else to fill."""
    three = {"LISTEN_PORT", "APP_UPSTREAM", "PAUSA_UPSTREAM"}
    assert set(re.findall(r"\$\{([A-Z_]+)\}", edge_stack.NGINX_TEMPLATE.read_text())) == three
    assert set(re.findall(r"\{\$([A-Z_]+)\}", edge_stack.CADDYFILE.read_text())) == three
    # Traefik reads the upstreams from the environment; the port belongs to its static configuration.
    traefik = (edge_stack.EXAMPLES / "edge" / "traefik.yml").read_text()
    assert set(re.findall(r'\{\{ env "([A-Z_]+)" \}\}', traefik)) == {"APP_UPSTREAM", "PAUSA_UPSTREAM"}
    assert "LISTEN_PORT" in traefik
    filled = edge_stack.fill_nginx(edge_stack.NGINX_TEMPLATE, 1, 2, 3)
    assert "${" not in filled and "$request_uri" in filled  # nginx's own variables survive envsubst
