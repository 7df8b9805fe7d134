"""The edge gate's pure parts: whose request it is, which paths are Pausa's, when "allowed" holds."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.asking import forwarded_asks, forwarded_client_ip, parse_networks, path_of, prefers_json
from pausa_gate.decision import ALWAYS_ALLOWED, decide, seconds_everyone_passes
from pausa_gate.state import ANONYMOUS, Status, unknown_state

from app.gate.edge import retry_location

from .factories import NOW, PROPERTY, facts, gate_states, minutes, raw_paths, seconds, state, upcoming, window

PROXIES = parse_networks(["127.0.0.1", "10.0.0.0/8"])


@pytest.mark.parametrize("path", ALWAYS_ALLOWED)
def test_pausas_own_paths_pass_in_app_and_are_blocked_at_the_edge(path):
    full = state(window())
    assert not decide(facts(path + "/x"), ANONYMOUS, None, full, NOW).blocked
    assert decide(facts(path + "/x"), ANONYMOUS, None, full, NOW, always_allowed=()).blocked
    assert not decide(facts(path + "/x"), ANONYMOUS, None, full, NOW, allowlist=(path,), always_allowed=()).blocked


@pytest.mark.parametrize(
    ("label", "windows", "expected"),
    [
        ("nothing at all", (), float("inf")),
        ("active", (window(),), 0.0),
        ("upcoming in 30 min", (upcoming(),), 1800.0),
        ("draining from 10 min before", (upcoming(drain_minutes=10),), 1200.0),
        ("draining now", (upcoming(starts_at=NOW + minutes(5), drain_minutes=10),), 0.0),
        ("ended", (window(ends_at=NOW - minutes(1)),), float("inf")),
        ("cancelled", (upcoming(status=Status.CANCELLED),), float("inf")),
        # Found by the property below: an active window may start later, and only a scheduled one drains.
        ("active, starting in 30 s", (window(starts_at=NOW + seconds(30), drain_minutes=10),), 30.0),
    ],
)
def test_everyone_passes_until_the_next_window_or_its_drain_begins(label, windows, expected):
    assert seconds_everyone_passes(state(*windows), NOW) == expected


def test_nothing_known_in_closed_mode_never_lets_everyone_pass():
    assert seconds_everyone_passes(unknown_state(), NOW) == 0.0


@PROPERTY
@given(gate_states, raw_paths(), st.sampled_from(["GET", "POST", "DELETE"]), st.integers(0, 3600))
def test_while_everyone_passes_no_request_is_blocked(gate_state, path, method, later):
    """The promise behind a proxy reusing "allowed": no request is blocked during the quiet period."""
    quiet = seconds_everyone_passes(gate_state, NOW)
    if later < quiet:
        decision = decide(facts(path, method), ANONYMOUS, None, gate_state, NOW + seconds(later), always_allowed=())
        assert not decision.blocked


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("/account?tab=1", "/account"),
        ("/a%20b", "/a b"),
        ("/%61dmin", "/admin"),
        ("//account", "//account"),
        ("https://shop.example/cart?x", "/cart"),
        ("", "/"),
        ("/x#frag", "/x"),
    ],
)
def test_the_forwarded_uri_is_read_as_the_application_reads_it(uri, path):
    assert path_of(uri) == path


@pytest.mark.parametrize(
    ("peer", "chain", "expected"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("198.51.100.1", "203.0.113.7", None),  # anyone may call the check: an unknown caller proves nothing
        ("127.0.0.1", "203.0.113.7, 198.51.100.2", "198.51.100.2"),  # the left part was the client's
        ("127.0.0.1", "203.0.113.7, 10.0.0.5", "203.0.113.7"),
        ("127.0.0.1", "10.0.0.4, 10.0.0.5", "10.0.0.4"),
        ("127.0.0.1", "", None),
        ("::ffff:127.0.0.1", "203.0.113.7", "203.0.113.7"),
        ("not-an-ip", "203.0.113.7", None),
    ],
)
def test_the_client_ip_is_believed_only_from_trusted_proxies(peer, chain, expected):
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": chain}
    assert forwarded_client_ip(environ, PROXIES) == expected
    assert forwarded_client_ip(environ, ()) is None


def test_proxyfix_does_not_make_a_client_a_trusted_proxy():
    environ = {"REMOTE_ADDR": "127.0.0.1", "werkzeug.proxy_fix.orig": {"REMOTE_ADDR": "198.51.100.1"},
               "HTTP_X_FORWARDED_FOR": "203.0.113.7"}
    assert forwarded_client_ip(environ, PROXIES) is None


def test_both_conventions_are_read_and_kept_apart_when_they_disagree():
    same = {"HTTP_X_FORWARDED_URI": "/a", "HTTP_X_ORIGINAL_URI": "/a"}
    assert [ask.path for ask in forwarded_asks(same, ())] == ["/a"]
    different = {"HTTP_X_FORWARDED_URI": "/a", "HTTP_X_ORIGINAL_URI": "/b", "HTTP_X_ORIGINAL_METHOD": "post"}
    asks = forwarded_asks(different, ())
    assert [(ask.method, ask.path) for ask in asks] == [("GET", "/a"), ("POST", "/b")]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
        ("text/html, application/json;q=0.5", False),
        ("application/json, text/html;q=0.5", True),
        ("*/*", False),
        ("", False),
    ],
)
def test_one_rule_says_what_a_json_client_is(accept, expected):
    assert prefers_json(accept) is expected


@pytest.mark.parametrize(
    ("uri", "location"),
    [("/a?b=1", "/a?b=1"), ("//evil.example", "/"), ("/\\evil.example", "/"), ("http://evil.example/", "/"),
     ("/a\r\nSet-Cookie: x=1", "/")],
)
def test_the_retry_never_leaves_the_site(uri, location):
    assert retry_location(uri) == location


def test_a_wrong_trusted_proxy_entry_is_named():
    with pytest.raises(ValueError, match="'10.0.0.300'"):
        parse_networks(["10.0.0.300"])
    assert parse_networks(["::1"]) == (ipaddress.ip_network("::1"),)


def test_a_bypass_cookie_is_checked_against_the_digest_the_state_publishes():
    from pausa_gate import cookies
    from pausa_gate.state import BypassKey, GateState

    secret = cookies.derive_secret(b"server-key", "token-hash")
    key = BypassKey(7, 3, NOW + minutes(30), cookies.digest(secret))
    live = GateState(version=1, bypass_links=frozenset({key}))
    assert cookies.bypass_window_id(cookies.cookie_value(7, secret), live, NOW) == 3
    assert cookies.bypass_window_id(f'"7.{secret}"', live, NOW) == 3  # some clients quote cookie values
    assert cookies.bypass_window_id(cookies.cookie_value(7, secret), live, NOW + minutes(30)) is None
    assert cookies.bypass_window_id(cookies.cookie_value(8, secret), live, NOW) is None
    assert cookies.bypass_window_id(f"7.{key.cookie_digest}", live, NOW) is None  # the digest is not the key
    assert cookies.bypass_window_id(cookies.cookie_value(7, secret), GateState(version=2), NOW) is None
    assert cookies.derive_secret(b"other-key", "token-hash") != secret
