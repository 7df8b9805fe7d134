"""The gate's decision (docs/gate.md): every rule, its precedence, and the spellings that try to dodge it."""

from __future__ import annotations

import ipaddress
from dataclasses import fields, replace
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.decision import (
    ALLOW,
    ALWAYS_ALLOWED,
    Bypass,
    Decision,
    Outcome,
    banner_facts,
    bypass_reason,
    decide,
)
from pausa_gate.paths import is_under_any, normalise_path
from pausa_gate.state import ANONYMOUS, GateState, Mode, RequestFacts, Status, Viewer
from pausa_gate.windows import is_in_effect

from .factories import (
    NOW,
    PROPERTY,
    client_ips,
    facts,
    gate_states,
    methods,
    minutes,
    raw_paths,
    seconds,
    state,
    upcoming,
    viewers,
    window,
)

FULL = state(window())
ADMIN = Viewer(role="admin")
DEVELOPER = Viewer(role="developer")
QA = Viewer(role="qa")
USER = Viewer(role="user")
BYPASS_TOKEN = Viewer(token_scopes=frozenset({"bypass"}))
WRITES = ["POST", "PUT", "PATCH", "DELETE"]
READS = ["GET", "HEAD", "OPTIONS"]


def gate(path="/", method="GET", *, st_=FULL, viewer=ANONYMOUS, ip=None, cookie=None, allowlist=()):
    return decide(facts(path, method, cookie), viewer, ip, st_, NOW, allowlist=allowlist)


def outcome(*args, **kwargs) -> Outcome:
    return gate(*args, **kwargs).outcome


# ---------------------------------------------------------------- rule 1: always allowed


def test_always_allowed_prefixes_are_the_spec_list():
    assert set(ALWAYS_ALLOWED) == {
        "/static", "/health", "/metrics", "/webhooks", "/maintenance",
        "/auth/login", "/auth/logout", "/auth/set-password", "/admin", "/api/admin", "/bypass", "/gate",
    }


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.css",
        "/static",
        "/static/htmx/htmx.min.js",
        "/health",
        "/health/live",
        "/health/ready",
        "/metrics",
        "/webhooks/stripe",
        "/webhooks/standard",
        "/webhooks",
        "/maintenance",
        "/maintenance/status",
        "/maintenance/status.json",
        "/maintenance/subscribe",
        "/auth/login",
        "/auth/logout",
        "/auth/set-password/abc.def",
        "/admin",
        "/admin/",
        "/admin/audit/export.csv",
        "/api/admin/maintenance",
        "/bypass/abc.def",
        "//health//live",
        "/static/./app.css",
        "\\health",
        "/webhooks\\stripe",
        "/webhooks/../admin",  # normalises to /admin, which is itself always allowed
        "/account/../health",  # normalises to /health
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_always_allowed_paths_pass_a_full_window(path, method):
    assert gate(path, method) == ALLOW


@pytest.mark.parametrize(
    ("path", "normalised"),
    [
        ("/", "/"),
        ("/account", "/account"),
        ("/webhooksx", "/webhooksx"),
        ("/webhooks-old/stripe", "/webhooks-old/stripe"),
        ("/healthz", "/healthz"),
        ("/staticfiles/x.css", "/staticfiles/x.css"),
        ("/metrics2", "/metrics2"),
        ("/maintenancex", "/maintenancex"),
        ("/bypassx", "/bypassx"),
        ("/ADMIN", "/ADMIN"),  # routes are case-sensitive: /ADMIN is not the admin area
        ("/Admin/audit", "/Admin/audit"),
        ("/Health", "/Health"),
        ("/WEBHOOKS/stripe", "/WEBHOOKS/stripe"),
        ("/auth", "/auth"),
        ("/auth/register", "/auth/register"),
        ("/auth/login-as", "/auth/login-as"),
        ("/api", "/api"),
        ("/api/adminx", "/api/adminx"),
        ("/api/v1/items", "/api/v1/items"),
        ("/static/../account", "/account"),
        ("/webhooks/../account", "/account"),
        ("/admin/../account", "/account"),
        ("/admin\\..\\account", "/account"),
        ("/health/./../account/", "/account"),
        ("/auth/login/../../account", "/account"),
        ("/a/../../account", "/account"),
        ("//account", "/account"),
        ("/%61dmin", "/%61dmin"),  # percent-decoding is the server's job, before the gate
    ],
)
def test_everything_else_is_blocked_by_a_full_window(path, normalised):
    assert normalise_path(path) == normalised
    assert not is_under_any(normalised, ALWAYS_ALLOWED)
    decision = gate(path, "GET")
    assert decision.outcome is Outcome.BLOCK
    assert decision.window == FULL.windows[0]


def test_webhooks_dot_dot_admin_is_judged_as_admin_not_as_webhooks():
    assert normalise_path("/webhooks/../admin") == "/admin"
    assert not is_under_any("/admin", ("/webhooks",))
    # and so a config allowlist of only /webhooks does not cover it
    assert gate("/webhooks/../private", allowlist=("/webhooks",)).blocked


# ---------------------------------------------------------------- rule 1: config allowlist


@pytest.mark.parametrize(
    ("path", "allowlist", "expected"),
    [
        ("/status-page", ("/status-page",), Outcome.ALLOW),
        ("/status-page/feed.xml", ("/status-page",), Outcome.ALLOW),
        ("/status-pagex", ("/status-page",), Outcome.BLOCK),
        ("/api/v1/ping", ("/api/v1/ping",), Outcome.ALLOW),
        ("/api/v1/items", ("/api/v1/ping",), Outcome.BLOCK),
        ("/public/x", ("/public/",), Outcome.ALLOW),
        ("/public/x", ("public",), Outcome.ALLOW),
        ("/public/x", ("//public/./",), Outcome.ALLOW),
        ("/Public/x", ("/public",), Outcome.BLOCK),
        ("/public/../account", ("/public",), Outcome.BLOCK),
        ("/b/x", ("/a", "/b"), Outcome.ALLOW),
        ("/c", ("/a", "/b"), Outcome.BLOCK),
        ("/account", (), Outcome.BLOCK),
    ],
)
def test_config_allowlist(path, allowlist, expected):
    assert outcome(path, "POST", allowlist=allowlist) is expected


def test_allowlist_wins_over_drain_and_every_mode():
    drain = state(upcoming(starts_at=NOW + minutes(5), drain_minutes=10))
    assert gate("/open/x", "POST", st_=drain, allowlist=("/open",)) == ALLOW
    for mode in Mode:
        st_ = state(window(mode=mode, scope_paths=("/open",)))
        assert gate("/open/x", "POST", st_=st_, allowlist=("/open",)) == ALLOW


# ---------------------------------------------------------------- rule 2: no window in effect


@pytest.mark.parametrize(
    "st_",
    [
        state(),
        GateState(),
        state(window(status=Status.COMPLETED)),
        state(window(status=Status.CANCELLED)),
        state(window(ends_at=NOW)),  # auto-ended exactly now, by the clock alone
        state(window(ends_at=NOW - minutes(1), eta=NOW + minutes(30))),
        state(upcoming(starts_at=NOW + minutes(90), notice_minutes=60)),  # not yet announced
        state(upcoming(notice_minutes=0)),
        state(upcoming(status=Status.CANCELLED)),
    ],
    ids=["empty", "default-state", "completed", "cancelled", "ends_at-now", "ends_at-passed",
         "outside-notice", "no-notice", "cancelled-upcoming"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_window_in_effect_allows_without_banner(st_, method):
    assert gate("/account", method, st_=st_) == ALLOW


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_an_announced_window_shows_a_banner(method):
    soon = upcoming()
    decision = gate("/account", method, st_=state(soon))
    assert decision == Decision(Outcome.BANNER, soon)
    assert not decision.blocked


@pytest.mark.parametrize(
    ("starts_in", "notice", "expected"),
    [
        (minutes(60), 60, Outcome.BANNER),  # notice period starts inclusive
        (minutes(60) + seconds(1), 60, Outcome.ALLOW),
        (seconds(1), 1, Outcome.BANNER),
        (minutes(10), 0, Outcome.ALLOW),
    ],
    ids=["notice-starts-now", "one-second-early", "last-second", "zero-notice"],
)
def test_notice_period_edges(starts_in, notice, expected):
    st_ = state(upcoming(starts_at=NOW + starts_in, notice_minutes=notice))
    assert outcome("/", st_=st_) is expected


def test_the_soonest_announced_window_is_the_one_on_the_banner():
    later = upcoming(id=1, starts_at=NOW + minutes(50))
    sooner = upcoming(id=2, starts_at=NOW + minutes(20))
    assert gate(st_=state(later, sooner)).window is sooner


def test_a_window_in_effect_takes_precedence_over_an_announced_one():
    active = window(id=1, mode=Mode.READ_ONLY)
    soon = upcoming(id=2, starts_at=NOW + minutes(30), drain_minutes=60)
    assert gate("/", "GET", st_=state(soon, active)) == Decision(Outcome.BANNER, active)


# ---------------------------------------------------------------- drain period


DRAINING = upcoming(id=7, starts_at=NOW + minutes(5), drain_minutes=10, notice_minutes=30)


@pytest.mark.parametrize("method", READS + ["get", "head"])
def test_drain_lets_reads_through_with_a_draining_banner(method):
    assert gate("/account", method, st_=state(DRAINING)) == Decision(Outcome.BANNER, DRAINING, draining=True)


@pytest.mark.parametrize("method", WRITES + ["post", "Patch"])
def test_drain_blocks_writes(method):
    assert gate("/account", method, st_=state(DRAINING)) == Decision(Outcome.BLOCK, DRAINING, draining=True)


def test_drain_blocks_writes_on_every_path_even_for_a_scoped_window():
    """docs/windows.md, "Planned windows": during the drain writes are refused as in read_only, whatever the mode."""
    scoped = replace(DRAINING, mode=Mode.SCOPED, scope_paths=("/billing",))
    assert gate("/account", "POST", st_=state(scoped)).blocked
    assert gate("/billing", "GET", st_=state(scoped)) == Decision(Outcome.BANNER, scoped, draining=True)


@pytest.mark.parametrize(
    ("starts_in", "drain", "expected"),
    [
        (minutes(10), 10, Outcome.BLOCK),  # drain starts inclusive
        (minutes(10) + seconds(1), 10, Outcome.BANNER),  # announced by notice, not draining yet
        (seconds(1), 10, Outcome.BLOCK),
        (seconds(0), 10, Outcome.BLOCK),  # the window itself is now in effect
        (minutes(5), 0, Outcome.BANNER),
    ],
    ids=["drain-starts-now", "one-second-early", "last-second", "window-started", "no-drain"],
)
def test_drain_edges_for_a_write(starts_in, drain, expected):
    st_ = state(upcoming(starts_at=NOW + starts_in, drain_minutes=drain, notice_minutes=30))
    assert outcome("/account", "POST", st_=st_) is expected


@pytest.mark.parametrize(
    ("viewer", "ip", "cookie", "bypass"),
    [
        (ADMIN, None, None, Bypass.ROLE),
        (DEVELOPER, None, None, Bypass.ROLE),
        (BYPASS_TOKEN, None, None, Bypass.TOKEN),
        (ANONYMOUS, None, 7, Bypass.COOKIE),
        (ANONYMOUS, "10.9.9.9", None, Bypass.IP),
        (ANONYMOUS, None, 8, None),
        (QA, "11.0.0.1", None, None),
    ],
    ids=["admin", "allowed-role", "token", "cookie", "ip", "other-window-cookie", "nobody"],
)
def test_drain_can_be_bypassed(viewer, ip, cookie, bypass):
    draining = replace(
        DRAINING, allowed_roles=frozenset({"developer"}), allowed_networks=(ipaddress.ip_network("10.0.0.0/8"),)
    )
    decision = gate("/account", "POST", st_=state(draining), viewer=viewer, ip=ip, cookie=cookie)
    assert decision.bypass is bypass
    assert decision.draining
    assert decision.outcome is (Outcome.BLOCK if bypass is None else Outcome.BANNER)


def test_drain_of_a_cancelled_window_blocks_nothing():
    assert gate("/account", "POST", st_=state(replace(DRAINING, status=Status.CANCELLED))) == ALLOW


def test_drain_never_blocks_always_allowed_paths():
    assert gate("/webhooks/stripe", "POST", st_=state(DRAINING)) == ALLOW
    assert gate("/admin/maintenance/end", "POST", st_=state(DRAINING)) == ALLOW


# ---------------------------------------------------------------- rule 4: modes


@pytest.mark.parametrize("method", READS + WRITES)
@pytest.mark.parametrize("path", ["/", "/account", "/api/v1/items", "/ADMIN"])
def test_full_blocks_every_method_on_every_other_path(path, method):
    assert outcome(path, method, st_=state(window(mode=Mode.FULL))) is Outcome.BLOCK


@pytest.mark.parametrize(
    ("method", "expected"),
    [(m, Outcome.BANNER) for m in READS + ["get", "Head", "options"]]
    + [(m, Outcome.BLOCK) for m in WRITES + ["post", "TRACE", "PROPFIND"]],
    ids=lambda value: str(value),
)
def test_read_only_allows_safe_methods_with_a_banner(method, expected):
    ro = window(mode=Mode.READ_ONLY)
    decision = gate("/account", method, st_=state(ro))
    assert decision.outcome is expected
    assert decision.window is ro
    assert decision.bypass is None


SCOPED = window(mode=Mode.SCOPED, scope_paths=("/billing", "/api/v1/items", "/Reports"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/billing", Outcome.BLOCK),
        ("/billing/", Outcome.BLOCK),
        ("/billing/invoices/3", Outcome.BLOCK),
        ("/Billing", Outcome.BLOCK),  # case tricks cannot slip past the scope
        ("/BILLING/invoices", Outcome.BLOCK),
        ("/bIlLiNg", Outcome.BLOCK),
        ("//billing", Outcome.BLOCK),
        ("/./billing", Outcome.BLOCK),
        ("/x/../billing", Outcome.BLOCK),
        ("\\billing\\invoices", Outcome.BLOCK),
        ("/api/v1/items", Outcome.BLOCK),
        ("/api/v1/items/42", Outcome.BLOCK),
        ("/API/V1/Items", Outcome.BLOCK),
        ("/reports/q1", Outcome.BLOCK),  # the scope's own case does not matter either
        ("/billingx", Outcome.BANNER),
        ("/bill", Outcome.BANNER),
        ("/billing-old", Outcome.BANNER),
        ("/", Outcome.BANNER),
        ("/account", Outcome.BANNER),
        ("/api/v1/ping", Outcome.BANNER),
        ("/api/v1", Outcome.BANNER),
        ("/billing/../account", Outcome.BANNER),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_scoped_blocks_only_paths_under_the_scope(path, method, expected):
    decision = gate(path, method, st_=state(SCOPED))
    assert decision.outcome is expected
    assert decision.window is SCOPED


def test_scoped_window_with_no_paths_blocks_nothing():
    empty = window(mode=Mode.SCOPED, scope_paths=())
    assert gate("/account", "POST", st_=state(empty)) == Decision(Outcome.BANNER, empty)


# ---------------------------------------------------------------- rule 3: bypass


NETS = ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
GUARDED = window(id=7, allowed_roles={"developer"}, allowed_networks=NETS)


@pytest.mark.parametrize(
    ("viewer", "expected"),
    [
        (ADMIN, Bypass.ROLE),
        (DEVELOPER, Bypass.ROLE),
        (QA, None),
        (USER, None),
        (ANONYMOUS, None),
        (Viewer(role="Admin"), None),  # roles are exact
        (BYPASS_TOKEN, Bypass.TOKEN),
        (Viewer(token_scopes=frozenset({"admin"})), None),  # only the bypass scope bypasses
        (Viewer(token_scopes=frozenset({"admin", "bypass"})), Bypass.TOKEN),
        (Viewer(role="user", token_scopes=frozenset({"bypass"})), Bypass.TOKEN),
        (Viewer(role="admin", token_scopes=frozenset({"bypass"})), Bypass.ROLE),  # role is checked first
    ],
    ids=["admin", "allowed-role", "other-role", "user", "anonymous", "wrong-case-role", "bypass-token",
         "admin-scope-token", "both-scopes", "user-with-token", "admin-with-token"],
)
def test_bypass_by_role_or_token(viewer, expected):
    decision = gate("/account", "POST", st_=state(GUARDED), viewer=viewer)
    assert decision.bypass is expected
    if expected is None:
        assert decision == Decision(Outcome.BLOCK, GUARDED)
    else:
        assert decision == Decision(Outcome.BANNER, GUARDED, bypass=expected)


def test_allowed_user_role_is_honoured():
    open_to_users = window(allowed_roles={"user"})
    assert gate(st_=state(open_to_users), viewer=USER).bypass is Bypass.ROLE


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [(7, Bypass.COOKIE), (8, None), (None, None), (0, None), (-7, None)],
    ids=["same-window", "other-window", "no-cookie", "zero", "negative"],
)
def test_bypass_cookie_matches_only_its_own_window(cookie, expected):
    assert gate("/account", "POST", st_=state(GUARDED), cookie=cookie).bypass is expected


def test_a_bypass_cookie_does_not_survive_into_the_next_window():
    first, second = window(id=7), window(id=8)
    assert gate(st_=state(first), cookie=7).bypass is Bypass.COOKIE
    assert gate(st_=state(second), cookie=7).blocked


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("10.1.2.3", Bypass.IP),
        ("10.255.255.255", Bypass.IP),
        ("11.0.0.1", None),
        ("9.255.255.255", None),
        ("192.0.2.7", Bypass.IP),
        ("192.0.2.8", None),
        ("2001:db8::1", Bypass.IP),
        ("2001:DB8:0:0::abcd", Bypass.IP),
        ("2001:db9::1", None),
        ("::ffff:10.1.2.3", Bypass.IP),  # IPv4-mapped IPv6, as dual-stack sockets report it
        ("::FFFF:192.0.2.7", Bypass.IP),
        ("::ffff:11.0.0.1", None),
        ("::a01:203", None),  # IPv4-compatible (deprecated) is not IPv4-mapped
        (" 10.1.2.3 ", Bypass.IP),
        (None, None),
        ("", None),
        ("garbage", None),
        ("10.1.2", None),
        ("999.1.1.1", None),
        ("10.1.2.3/8", None),
        ("10.1.2.3, 10.0.0.1", None),
        ("10.1.2.3:443", None),
        ("[2001:db8::1]", None),
        ("::ffff:", None),
        ("unix:/tmp/sock", None),
        ("0x0a010203", None),
    ],
    ids=repr,
)
def test_bypass_by_client_ip(ip, expected):
    assert gate("/account", "POST", st_=state(GUARDED), ip=ip).bypass is expected


@pytest.mark.parametrize(
    ("network", "ip", "expected"),
    [
        ("::ffff:192.0.2.0/120", "::ffff:192.0.2.9", Bypass.IP),
        ("::ffff:192.0.2.9/128", "::ffff:192.0.2.9", Bypass.IP),  # an address copied from the logs
        ("::ffff:192.0.2.9/128", "192.0.2.9", Bypass.IP),
        ("::ffff:192.0.2.9/128", "192.0.2.10", None),
        ("192.0.2.9/32", "::ffff:192.0.2.9", Bypass.IP),
        ("0.0.0.0/0", "203.0.113.1", Bypass.IP),
        ("0.0.0.0/0", "2001:db8::1", None),
        ("::/0", "2001:db8::1", Bypass.IP),
        ("fe80::/10", "fe80::1%eth0", Bypass.IP),
    ],
    ids=lambda value: str(value),
)
def test_ip_matching_across_families(network, ip, expected):
    w = window(allowed_networks=[network])
    assert gate(st_=state(w), ip=ip).bypass is expected


def test_no_networks_means_no_ip_bypass():
    assert gate(st_=state(window()), ip="10.1.2.3").blocked


@pytest.mark.parametrize(
    ("viewer", "ip", "cookie", "expected"),
    [
        (ADMIN, "10.1.2.3", 7, Bypass.ROLE),
        (BYPASS_TOKEN, "10.1.2.3", 7, Bypass.TOKEN),
        (ANONYMOUS, "10.1.2.3", 7, Bypass.COOKIE),
        (ANONYMOUS, "10.1.2.3", None, Bypass.IP),
    ],
    ids=["role>token>cookie>ip", "token>cookie>ip", "cookie>ip", "ip"],
)
def test_bypass_reason_precedence(viewer, ip, cookie, expected):
    assert bypass_reason(GUARDED, facts("/", "GET", cookie), viewer, ip) is expected


@pytest.mark.parametrize("viewer", [ADMIN, BYPASS_TOKEN])
def test_bypass_is_not_reported_when_nothing_is_blocked(viewer):
    ro = window(mode=Mode.READ_ONLY)
    assert gate("/", "GET", st_=state(ro), viewer=viewer) == Decision(Outcome.BANNER, ro)
    assert gate("/", "GET", st_=state(), viewer=viewer) == ALLOW
    assert gate("/", "GET", st_=state(upcoming()), viewer=viewer).bypass is None


def test_scoped_bypass_applies_only_inside_the_scope():
    assert gate("/billing", "POST", st_=state(SCOPED), viewer=ADMIN).bypass is Bypass.ROLE
    assert gate("/account", "POST", st_=state(SCOPED), viewer=ADMIN).bypass is None


# ---------------------------------------------------------------- the clock alone


def test_a_scheduled_window_blocks_from_its_start_without_a_worker():
    w = upcoming(starts_at=NOW, drain_minutes=10)
    assert w.status is Status.SCHEDULED
    assert gate("/", "GET", st_=state(w)).blocked


@pytest.mark.parametrize(
    ("ends_at", "expected"),
    [
        (NOW + seconds(1), Outcome.BLOCK),
        (NOW, Outcome.ALLOW),
        (NOW - seconds(1), Outcome.ALLOW),
        (None, Outcome.BLOCK),
    ],
    ids=["ends-in-1s", "ends-now", "ended-1s-ago", "no-ends_at"],
)
def test_ends_at_auto_ends_from_the_clock_alone(ends_at, expected):
    w = window(ends_at=ends_at, eta=NOW - minutes(5))  # even while overdue
    assert outcome("/account", st_=state(w)) is expected


def test_a_stale_state_is_still_enforced():
    assert gate(st_=state(window(), stale=True)).blocked
    assert gate(st_=state(stale=True)) == ALLOW


# ---------------------------------------------------------------- banner facts


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (ALLOW, None),
        (
            Decision(Outcome.BANNER, upcoming()),
            {"kind": "upcoming", "mode": "full", "message": "Deploying v2, back soon.", "seconds": 1800,
             "at": "2026-03-14T12:30:00+00:00", "overdue": False},
        ),
        (
            Decision(Outcome.BANNER, DRAINING, draining=True),
            {"kind": "draining", "mode": "full", "message": "Deploying v2, back soon.", "seconds": 300,
             "at": "2026-03-14T12:05:00+00:00", "overdue": False},
        ),
        (
            Decision(Outcome.BANNER, DRAINING, bypass=Bypass.ROLE, draining=True),
            {"kind": "draining", "mode": "full", "message": "Deploying v2, back soon.", "seconds": 300,
             "at": "2026-03-14T12:05:00+00:00", "overdue": False},
        ),
        (
            Decision(Outcome.BANNER, window(mode=Mode.READ_ONLY)),
            {"kind": "active", "mode": "read_only", "message": "Deploying v2, back soon.", "seconds": 1200,
             "at": "2026-03-14T12:20:00+00:00", "overdue": False},
        ),
        (
            Decision(Outcome.BANNER, window(eta=NOW - minutes(1)), bypass=Bypass.ROLE),
            {"kind": "bypass", "mode": "full", "message": "Deploying v2, back soon.", "seconds": 0,
             "at": "2026-03-14T11:59:00+00:00", "overdue": True},
        ),
        (
            Decision(Outcome.BLOCK, window(eta=None)),
            {"kind": "active", "mode": "full", "message": "Deploying v2, back soon.", "seconds": None,
             "at": None, "overdue": False},
        ),
        (
            Decision(Outcome.BANNER, window(mode=Mode.SCOPED, eta=NOW - seconds(1))),
            {"kind": "active", "mode": "scoped", "message": "Deploying v2, back soon.", "seconds": 0,
             "at": "2026-03-14T11:59:59+00:00", "overdue": True},
        ),
    ],
    ids=["allow", "upcoming", "draining", "draining-bypassed", "active", "bypass-overdue", "blocked-no-eta",
         "scoped-overdue"],
)
def test_banner_facts(decision, expected):
    assert banner_facts(decision, NOW) == expected


def test_banner_facts_follow_decide_end_to_end():
    assert banner_facts(gate(st_=state(upcoming())), NOW)["kind"] == "upcoming"
    assert banner_facts(gate("/", "GET", st_=state(window(mode=Mode.READ_ONLY))), NOW)["kind"] == "active"
    assert banner_facts(gate("/", "POST", st_=state(window()), viewer=ADMIN), NOW)["kind"] == "bypass"
    assert banner_facts(gate("/", "GET", st_=state(DRAINING)), NOW)["kind"] == "draining"
    assert banner_facts(gate("/", "GET", st_=state()), NOW) is None


def test_the_banner_countdown_never_goes_negative():
    late = Decision(Outcome.BANNER, window(eta=NOW - minutes(90)), bypass=Bypass.IP)
    assert banner_facts(late, NOW)["seconds"] == 0


# ---------------------------------------------------------------- properties


always_allowed_paths = st.builds(
    lambda prefix, rest, trailing: prefix + "".join("/" + part for part in rest) + trailing,
    st.sampled_from(ALWAYS_ALLOWED),
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="/\\?#\x00"), min_size=1, max_size=8).filter(
            lambda s: s not in (".", "..")
        ),
        max_size=4,
    ),
    st.sampled_from(["", "/", "//"]),
)


@PROPERTY
@given(always_allowed_paths, methods, viewers, client_ips, st.one_of(st.none(), st.integers(1, 5)), gate_states)
def test_decide_never_blocks_an_always_allowed_path(path, method, viewer, ip, cookie, st_):
    assert decide(facts(path, method, cookie), viewer, ip, st_, NOW) == ALLOW


@PROPERTY
@given(raw_paths(), methods, viewers, client_ips, gate_states)
def test_any_spelling_is_judged_by_its_normalised_form(path, method, viewer, ip, st_):
    decision = decide(facts(path, method), viewer, ip, st_, NOW)
    if is_under_any(normalise_path(path), ALWAYS_ALLOWED):
        assert decision == ALLOW
    else:
        # the decision is the same as for the canonical spelling
        assert decision == decide(facts(normalise_path(path), method), viewer, ip, st_, NOW)


def test_request_facts_carry_no_query_string():
    assert {f.name for f in fields(RequestFacts)} == {"path", "method", "bypass_window_id"}


HOSTILE_QUERIES = ["", "next=/admin", "/webhooks", "x=/../static", "path=/health&b=..%2F..", "?", "a=\\admin"]


@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=repr)
@pytest.mark.parametrize(
    ("path", "expected"),
    [("/account", Outcome.BLOCK), ("/billing", Outcome.BLOCK), ("/health", Outcome.ALLOW)],
)
def test_a_hostile_query_string_changes_nothing(path, expected, query):
    """Callers pass `request.path`, never the query: the request below is `GET {path}?{query}`."""
    request_path = urlsplit(f"http://pausa.test{path}?{query}").path
    assert request_path == path
    assert outcome(request_path) is expected
    assert outcome(request_path, st_=state(SCOPED)) is (Outcome.BANNER if path == "/account" else expected)


@PROPERTY
@given(
    raw_paths().filter(lambda p: "?" not in p and "#" not in p),
    st.text(max_size=30),
    methods,
    viewers,
    client_ips,
    gate_states,
)
def test_the_query_string_never_matters(path, query, method, viewer, ip, st_):
    """A WSGI server splits PATH_INFO from QUERY_STRING at the first `?`; the gate sees only the former."""
    path_info = f"{path}?{query}".partition("?")[0]
    assert decide(facts(path_info, method), viewer, ip, st_, NOW) == decide(facts(path, method), viewer, ip, st_, NOW)


@PROPERTY
@given(raw_paths(), methods, viewers, client_ips, st.one_of(st.none(), st.integers(1, 5)), gate_states)
def test_decision_invariants(path, method, viewer, ip, cookie, st_):
    decision = decide(facts(path, method, cookie), viewer, ip, st_, NOW)
    if decision.outcome is Outcome.ALLOW:
        assert decision == ALLOW
    else:
        assert decision.window is not None
    if decision.blocked:
        assert decision.bypass is None
        assert decision.window in st_.windows
        assert is_in_effect(decision.window, NOW) or decision.draining
    if decision.bypass is not None:
        assert decision.outcome is Outcome.BANNER
    if decision.draining:
        assert not is_in_effect(decision.window, NOW)


@PROPERTY
@given(raw_paths(), methods, client_ips, gate_states)
def test_an_admin_is_never_blocked(path, method, ip, st_):
    assert not decide(facts(path, method), ADMIN, ip, st_, NOW).blocked


@PROPERTY
@given(raw_paths(), st.sampled_from(READS), viewers, client_ips, gate_states)
def test_reads_are_blocked_only_by_full_or_scoped_windows_in_effect(path, method, viewer, ip, st_):
    decision = decide(facts(path, method), viewer, ip, st_, NOW)
    if decision.blocked:
        assert is_in_effect(decision.window, NOW)
        assert decision.window.mode in (Mode.FULL, Mode.SCOPED)


@PROPERTY
@given(raw_paths(), methods, viewers, client_ips, gate_states)
def test_ended_windows_never_change_the_decision(path, method, viewer, ip, st_):
    live = tuple(w for w in st_.windows if w.status in (Status.SCHEDULED, Status.ACTIVE))
    trimmed = replace(st_, windows=live)
    assert decide(facts(path, method), viewer, ip, st_, NOW) == decide(facts(path, method), viewer, ip, trimmed, NOW)


@PROPERTY
@given(raw_paths(), methods, viewers, client_ips, gate_states)
def test_case_changes_never_unblock_a_scoped_path(path, method, viewer, ip, st_):
    decision = decide(facts(path, method), viewer, ip, st_, NOW)
    if decision.blocked and decision.window.mode is Mode.SCOPED:
        for spelling in (path.upper(), path.lower(), path.swapcase()):
            if is_under_any(normalise_path(spelling), ALWAYS_ALLOWED):
                continue  # e.g. a spelling that lands exactly on /admin is the admin area
            assert decide(facts(spelling, method), viewer, ip, st_, NOW).blocked
