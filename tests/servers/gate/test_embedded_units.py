"""The embedded gate's parts without a running Pausa: settings, follower, proxy headers, viewer, hot path."""

from __future__ import annotations

import asyncio
import http.server
import io
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate import PausaGate, Viewer
from pausa_gate import document as state_document
from pausa_gate.asgi import PausaGateASGI, environ_of
from pausa_gate.feed import Feed, build
from pausa_gate.follower import Follower
from pausa_gate.proxy import Proxy, Visit
from pausa_gate.state import ANONYMOUS, UNKNOWN_WINDOW_ID, GateState, Mode, Reason, Status, WindowState
from pausa_gate.wsgi import ConfigurationError, EmbeddedGate

from bench.common import free_port

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing answers, so nothing is ever fetched


def feed_of(version: int, *, window: bool = False, allowlist: tuple[str, ...] = ("/webhooks",)) -> Feed:
    windows = ()
    if window:
        windows = (WindowState(id=1, status=Status.ACTIVE, mode=Mode.FULL, reason=Reason.DEPLOYMENT,
                               message="Unit window", starts_at=datetime.now(UTC) - timedelta(minutes=1),
                               allowed_roles=frozenset({"developer"})),)
    state = GateState(version=version, windows=windows)
    data = build(state_document.to_document(state), allowlist=(*allowlist, "/_pausa"), prefix="/_pausa",
                 status_url="/_pausa/status.json", poll_range=(5, 30), fail_mode="closed", pages={})
    return Feed.from_json(data)


def quiet_follower(tmp_path=None, **options) -> Follower:
    state_file = tmp_path / "feed.json" if tmp_path is not None else None
    return Follower(NOWHERE, "pausa_token", state_file, boot_wait=0, **options)


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"the app"]


def call(gate, path="/", method="GET", **environ):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    body = b"".join(gate({"PATH_INFO": path, "REQUEST_METHOD": method, "wsgi.input": io.BytesIO(b""),
                          "REMOTE_ADDR": "203.0.113.9", **environ}, start_response))
    return captured["status"], captured["headers"], body


# --- settings ------------------------------------------------------------------------------------------


def test_a_missing_url_or_token_is_refused_at_construction(monkeypatch):
    monkeypatch.delenv("PAUSA_URL", raising=False)
    monkeypatch.delenv("PAUSA_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="PAUSA_URL and PAUSA_TOKEN"):
        PausaGate(app)
    with pytest.raises(ConfigurationError, match="PAUSA_TOKEN"):
        PausaGate(app, url="http://pausa.example")
    with pytest.raises(ConfigurationError, match="http://"):
        PausaGate(app, url="pausa.example", token="pausa_x")
    with pytest.raises(ConfigurationError, match="PAUSA_FAIL_MODE"):
        PausaGateASGI(app, url="http://pausa.example", token="pausa_x", fail_mode="ajar")


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PAUSA_URL", "http://pausa.example:8000/")
    monkeypatch.setenv("PAUSA_TOKEN", "pausa_from_env")
    monkeypatch.setenv("PAUSA_STATE_FILE", str(tmp_path / "feed.json"))
    monkeypatch.setenv("PAUSA_FAIL_MODE", "open")
    follower = PausaGate(app).follower
    assert follower.url == "http://pausa.example:8000"
    assert follower.state_file == tmp_path / "feed.json"
    assert follower.fail_mode == "open"


# --- the follower ------------------------------------------------------------------------------------------


def test_the_follower_never_goes_back_to_an_older_version(tmp_path):
    follower = quiet_follower(tmp_path)
    try:
        assert follower.adopt(feed_of(5, window=True))
        assert not follower.adopt(feed_of(3))
        assert follower.current().state.version == 5
        assert follower.adopt(feed_of(5))  # the same version again: a change the version did not move
        assert follower.adopt(feed_of(6))
        assert follower.current().state.version == 6
    finally:
        follower.stop()


def test_the_state_file_is_written_whole_and_read_on_start(tmp_path):
    first = quiet_follower(tmp_path)
    try:
        first.adopt(feed_of(7, window=True))
    finally:
        first.stop()
    assert [path.name for path in tmp_path.iterdir()] == ["feed.json"]  # no temporary file left behind
    second = quiet_follower(tmp_path)
    try:
        started = time.monotonic()
        feed = second.current()  # Pausa is unreachable: the file alone answers, at once
        assert time.monotonic() - started < 0.5
        assert feed.state.version == 7 and feed.state.windows[0].message == "Unit window"
        assert second.known
    finally:
        second.stop()


def test_a_damaged_state_file_is_ignored_and_the_fail_mode_applies(tmp_path, caplog):
    (tmp_path / "feed.json").write_text('{"format": 1, "state": ')
    follower = quiet_follower(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, "pausa_gate"):
            feed = follower.current()
        assert [window.id for window in feed.state.windows] == [UNKNOWN_WINDOW_ID] and not follower.known
        assert "ignoring the gate's state file" in caplog.text
    finally:
        follower.stop()


def test_a_forked_process_starts_its_own_follower_thread(tmp_path):
    follower = quiet_follower(tmp_path)
    follower.adopt(feed_of(4))
    follower.current()
    try:
        pid = os.fork()
        if pid == 0:  # the child: the parent's thread is not here; the first use starts one
            try:
                before = any(thread.name == "pausa-gate-follower" for thread in threading.enumerate())
                version = follower.current().state.version
                after = any(thread.name == "pausa-gate-follower" for thread in threading.enumerate())
                os._exit(0 if (not before and after and version == 4 and follower.started) else 1)
            except BaseException:
                os._exit(2)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        follower.stop()


class FeedServer(http.server.ThreadingHTTPServer):
    """A stand-in for Pausa's feed that answers every poll at once with 304 and Retry-After: 1."""

    daemon_threads = True

    def __init__(self):
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(handler):  # noqa: N805 - the handler's own self
                self.requests += 1
                handler.send_response(304)
                handler.send_header("ETag", '"4-x"')
                handler.send_header("Retry-After", "1")
                handler.end_headers()

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)


def test_a_busy_pausa_that_says_retry_after_is_not_asked_again_at_once(tmp_path):
    server = FeedServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    follower = Follower(f"http://127.0.0.1:{server.server_address[1]}", "pausa_token", boot_wait=0)
    follower.adopt(feed_of(4))
    try:
        follower.current()
        time.sleep(2.2)
        assert 1 <= server.requests <= 4, server.requests  # about once a second, not a busy loop
    finally:
        follower.stop()
        server.shutdown()


# --- the proxy --------------------------------------------------------------------------------------


def test_the_proxy_sends_pausa_only_its_own_cookies_and_says_where_the_request_came_from():
    proxy = Proxy("https://pausa.example:8443/base")
    headers = proxy.upstream_headers(Visit(
        method="POST", target="/_pausa/subscribe", body=b"email=a%40b.c", client_ip="203.0.113.9",
        scheme="https", host="shop.example",
        headers=[("Host", "shop.example"), ("Cookie", "session=host-secret; pausa_lang=pt_BR; pausa_bypass=1.s"),
                 ("Authorization", "Bearer host-token"), ("Connection", "keep-alive, X-Private"),
                 ("X-Private", "dropped"), ("Keep-Alive", "timeout=5"), ("Transfer-Encoding", "chunked"),
                 ("X-Forwarded-For", "198.51.100.1"), ("X-Forwarded-Host", "evil.example"),
                 ("Accept-Language", "pt-BR"), ("Origin", "https://shop.example"),
                 ("Content-Type", "application/x-www-form-urlencoded")],
    ))
    assert headers == {
        "Host": "pausa.example:8443",
        "Cookie": "pausa_lang=pt_BR; pausa_bypass=1.s",
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9",
        "X-Forwarded-Host": "shop.example",
        "X-Forwarded-Proto": "https",
        "Accept-Language": "pt-BR",
        "Origin": "https://shop.example",
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": "13",
    }
    assert proxy.base_path == "/base"


def test_an_unreachable_pausa_gives_a_short_502():
    gate = PausaGate(app, url=f"http://127.0.0.1:{free_port()}", token="pausa_token", boot_wait=0)
    try:
        status, headers, body = call(gate, "/_pausa/static/css/app.css")
        assert status == "502 Bad Gateway" and headers["Content-Type"].startswith("text/plain")
        assert body.startswith(b"Pausa is not answering")
    finally:
        gate.follower.stop()


# --- the decision ------------------------------------------------------------------------------------


def test_viewer_answers_are_read_leniently_and_a_failing_viewer_is_anonymous(caplog):
    def failing(_):
        raise RuntimeError("the session store is down")

    gate = EmbeddedGate(NOWHERE, "pausa_token", failing)
    with caplog.at_level(logging.ERROR, "pausa_gate"):
        assert gate.viewer_of({}) is ANONYMOUS
        assert gate.viewer_of({}) is ANONYMOUS
    assert caplog.text.count("viewer() raised") == 1  # logged once, not per request
    for answer, role in (("qa", "qa"), (Viewer(role="admin"), "admin"), (None, None)):
        gate.viewer = lambda _, answer=answer: answer
        assert gate.viewer_of({}).role == role


def test_a_path_that_only_looks_under_the_prefix_is_decided_not_proxied(tmp_path):
    gate = PausaGate(app, url=NOWHERE, token="pausa_token", state_file=tmp_path / "feed.json", boot_wait=0)
    try:
        gate.follower.adopt(feed_of(2, window=True))
        status, headers, _ = call(gate, "/_pausa/../account")
        assert status.startswith("503") and headers["X-Maintenance"] == "active"
        status, _, body = call(gate, "/webhooks/payment", "POST")
        assert (status, body) == ("200 OK", b"the app")
        status, _, _ = call(gate, "/", HTTP_COOKIE="pausa_bypass=1.forged")
        assert status.startswith("503")
    finally:
        gate.follower.stop()


def test_without_a_window_the_request_costs_almost_nothing(tmp_path, capsys):
    gate = PausaGate(app, url=NOWHERE, token="pausa_token", state_file=tmp_path / "feed.json", boot_wait=0)
    try:
        gate.follower.adopt(feed_of(1))
        environ = {"PATH_INFO": "/products/42", "REQUEST_METHOD": "GET"}

        def start_response(status, headers):
            pass

        def per_call(target, rounds=20000):
            started = time.perf_counter()
            for _ in range(rounds):
                target(environ, start_response)
            return (time.perf_counter() - started) / rounds

        added = min(per_call(gate) - per_call(app) for _ in range(3))
        with capsys.disabled():
            print(f"\nembedded gate, no window: {added * 1e6:.2f} µs added per request", end="")
        assert added < 20e-6  # a Flask request alone costs hundreds of microseconds
    finally:
        gate.follower.stop()


def test_the_asgi_gate_passes_lifespan_events_through_untouched():
    seen = []

    async def inner(scope, receive, send):
        seen.append(scope["type"])

    gate = PausaGateASGI(inner, url=NOWHERE, token="pausa_token", boot_wait=0)
    asyncio.run(gate({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"] and not gate.follower.started


def test_an_asgi_scope_reads_like_a_wsgi_environ():
    scope = {"type": "http", "method": "POST", "path": "/app/api/items", "root_path": "/app",
             "query_string": b"a=1", "client": ("203.0.113.9", 5000),
             "headers": [(b"accept", b"application/json"), (b"hx-request", b"true"), (b"cookie", b"a=1"),
                         (b"cookie", b"pausa_bypass=2.x")]}
    environ = environ_of(scope, "/api/items")
    assert environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"] == "/api/items"
    assert environ["HTTP_ACCEPT"] == "application/json" and environ["HTTP_HX_REQUEST"] == "true"
    assert environ["REMOTE_ADDR"] == "203.0.113.9"
    assert environ["HTTP_COOKIE"] == "a=1; pausa_bypass=2.x"
