"""The state feed host apps follow: gate-scoped, no secrets, ETag and 304, a bounded long-poll."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import replace

import pytest
from pausa_gate import answers, cookies
from pausa_gate.asking import Ask
from pausa_gate.decision import decide
from pausa_gate.feed import Feed
from pausa_gate.state import ANONYMOUS, Actor, RequestFacts
from pausa_gate.windows import utcnow, window_in_effect

from app.maintenance.validation import validate_window
from app.services import bypass as bypass_service
from app.services import maintenance as maintenance_service
from app.services import tokens as token_service
from tests.support.apps import make_app


def strip_delay(html: str) -> str:
    return re.sub(r"(delay:|content=\")\d+", r"\1N", html)


@pytest.fixture
def feed_app(tmp_path):
    return make_app(tmp_path, MAINTENANCE_ALLOWLIST=("/hooks",))


def token(app, *scopes: str) -> str:
    with app.app_context():
        _, raw = token_service.create_token(f"t{time.monotonic_ns()}", list(scopes), Actor("t"))
    return raw


def start(app, **fields) -> int:
    with app.app_context():
        return maintenance_service.activate_window(validate_window(fields, utcnow()), Actor("t")).id


def fetch(app, raw: str | None, **headers):
    if raw is not None:
        headers["Authorization"] = f"Bearer {raw}"
    query = headers.pop("query", "")
    return app.test_client().get("/gate/state" + query, headers=headers)


@pytest.mark.parametrize(
    ("label", "scopes", "status"),
    [("no token", None, 401), ("unknown token", "pausa_nope", 401), ("admin only", ("admin",), 403),
     ("bypass only", ("bypass",), 403), ("gate", ("gate",), 200)],
)
def test_only_a_gate_scoped_token_reads_the_feed(feed_app, label, scopes, status):
    raw = scopes if isinstance(scopes, str) or scopes is None else token(feed_app, *scopes)
    response = fetch(feed_app, raw)
    assert response.status_code == status, label
    if status != 200:
        assert response.json["error"] == {401: "unauthorized", 403: "forbidden"}[status]
        assert "windows" not in response.json


def test_a_revoked_gate_token_is_refused(feed_app):
    raw = token(feed_app, "gate")
    assert fetch(feed_app, raw).status_code == 200
    with feed_app.app_context():
        token_service.revoke_token(token_service.list_tokens()[0].name, Actor("t"))
    assert fetch(feed_app, raw).status_code == 401


def test_the_feed_holds_what_the_gate_decides_from_and_nothing_secret(feed_app):
    window_id = start(feed_app, message="Deploying v2", eta="20m", allowed_roles=["developer"],
                      allowed_ips=["203.0.113.0/24"])
    with feed_app.app_context():
        link, raw_link = bypass_service.create_link(Actor("alice@example.com"), "1h", window_id)
        link_id, token_hash = link.id, link.token_hash
    raw = token(feed_app, "gate")
    response = fetch(feed_app, raw)
    text = response.get_data(as_text=True)
    feed = Feed.from_json(response.json)
    assert feed.state.windows[0].message == "Deploying v2"
    assert feed.state.windows[0].allowed_roles == frozenset({"developer"})
    assert feed.allowlist == ("/hooks", "/_pausa") and feed.prefix == "/_pausa"
    assert feed.status_url == "/_pausa/status.json"
    for secret in (raw, raw_link, token_hash, "alice@example.com", "test-secret-key"):
        assert secret not in text
    with feed_app.app_context():
        cookie = bypass_service.cookie_value(link)
    assert cookie.split(".", 1)[1] not in text  # only its digest is published
    assert cookies.bypass_window_id(cookie, feed.state, utcnow()) == window_id
    assert link_id in {key.link_id for key in feed.state.bypass_links}


def test_the_feed_page_is_the_page_pausa_serves(feed_app):
    start(feed_app, message="Same page", eta="30m")
    feed = Feed.from_json(fetch(feed_app, token(feed_app, "gate")).json)
    client = feed_app.test_client()
    for language, accept in (("en", "en"), ("pt_BR", "pt-BR")):
        for method in ("GET", "POST"):
            now = utcnow()
            served = client.open("/account", method=method, headers={"Accept-Language": accept})
            window = window_in_effect(feed.state, now)
            mine = feed.pages.page(window, now, language, blocked_write=method == "POST")
            assert served.status_code == 503
            assert strip_delay(mine) == strip_delay(served.get_data(as_text=True)), (language, method)
    assert "data-seconds=\"__" not in mine and "__pausa" not in mine


def test_a_host_apps_answer_from_the_feed_matches_the_edge_check(feed_app):
    start(feed_app, message="Identical", eta="30m")
    feed = Feed.from_json(fetch(feed_app, token(feed_app, "gate")).json)
    now = utcnow()
    ask = Ask(method="GET", path="/api/orders", uri="/api/orders", accept="application/json")
    decision = decide(RequestFacts("/api/orders"), ANONYMOUS, None, feed.state, now, allowlist=feed.allowlist,
                      always_allowed=())
    mine = answers.block(ask, decision, now, feed.pages, feed.status_url)
    edge = feed_app.test_client().get("/gate/check", headers={"X-Forwarded-Uri": "/api/orders"})
    assert mine.status == edge.status_code == 503
    assert mine.body == edge.data
    assert dict(mine.headers)["X-Maintenance"] == edge.headers["X-Maintenance"]


def test_a_host_app_says_changes_are_paused_during_a_drain_like_pausa(feed_app):
    from datetime import timedelta

    from app.services import scheduling as scheduling_service

    now = utcnow()
    fields = {"message": "Upgrade", "starts_at": (now + timedelta(minutes=10)).isoformat(),
              "eta": (now + timedelta(minutes=40)).isoformat(), "notice_minutes": "30", "drain_minutes": "15"}
    with feed_app.app_context():
        scheduling_service.schedule_window(validate_window(fields, now), Actor("t"), now)
    feed = Feed.from_json(fetch(feed_app, token(feed_app, "gate")).json)
    client = feed_app.test_client()
    for language, accept in (("en", "en"), ("pt_BR", "pt-BR")):
        served = client.post("/account", headers={"Accept-Language": accept})
        now = utcnow()
        ask = Ask(method="POST", path="/account", uri="/account", accept_language=accept)
        decision = decide(RequestFacts("/account", "POST"), ANONYMOUS, None, feed.state, now)
        mine = answers.block(ask, decision, now, feed.pages, feed.status_url)
        assert served.status_code == mine.status == 503
        assert served.headers["X-Pausa-Writes"] == dict(mine.headers)["X-Pausa-Writes"] == "paused"
        assert strip_delay(mine.body.decode()) == strip_delay(served.get_data(as_text=True)), language
        assert "__pausa" not in mine.body.decode()
        assert "We’ll be right back" not in mine.body.decode()
    api = answers.block(replace(ask, path="/api/items", accept_language="en"), decision, now, feed.pages,
                        feed.status_url)
    body = json.loads(api.body)
    assert body["error"] == "writes_paused"
    assert body["message"].startswith("Your change was not saved: changes are paused because maintenance starts at")


def test_an_unchanged_feed_answers_304(feed_app):
    raw = token(feed_app, "gate")
    first = fetch(feed_app, raw)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and first.headers["Cache-Control"] == "no-cache, private"
    again = fetch(feed_app, raw, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    start(feed_app)
    moved = fetch(feed_app, raw, **{"If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag


def test_the_long_poll_answers_as_soon_as_the_state_moves(feed_app):
    raw = token(feed_app, "gate")
    etag = fetch(feed_app, raw).headers["ETag"]
    threading.Timer(0.5, lambda: start(feed_app, message="Now")).start()
    began = time.monotonic()
    response = fetch(feed_app, raw, query="?wait=10", **{"If-None-Match": etag})
    took = time.monotonic() - began
    assert response.status_code == 200
    assert Feed.from_json(response.json).state.windows[0].message == "Now"
    assert 0.4 < took < 2.0, took


def test_the_long_poll_gives_up_at_its_wait_and_is_bounded(feed_app, tmp_path):
    raw = token(feed_app, "gate")
    etag = fetch(feed_app, raw).headers["ETag"]
    began = time.monotonic()
    quiet = fetch(feed_app, raw, query="?wait=1", **{"If-None-Match": etag})
    assert quiet.status_code == 304 and 0.9 < time.monotonic() - began < 3
    assert fetch(feed_app, raw, query="?wait=31").status_code == 400
    assert fetch(feed_app, raw, query="?wait=-1").status_code == 400
    busy = make_app(tmp_path / "busy", GATE_FEED_MAX_WAITERS=0)
    raw = token(busy, "gate")
    etag = fetch(busy, raw).headers["ETag"]
    began = time.monotonic()
    turned_away = fetch(busy, raw, query="?wait=10", **{"If-None-Match": etag})
    assert turned_away.status_code == 304 and turned_away.headers["Retry-After"] == "1"
    assert time.monotonic() - began < 1


def test_the_cli_makes_gate_tokens(feed_app):
    result = feed_app.test_cli_runner().invoke(args=["tokens", "create", "shop", "--scope", "gate"])
    assert result.exit_code == 0, result.output
    assert fetch(feed_app, result.stdout.strip().splitlines()[0]).status_code == 200
