"""Builders shared by the core tests: a fixed clock, windows, states and hypothesis strategies."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pausa_gate.state import BypassKey, GateState, Mode, Reason, RequestFacts, Status, Viewer, WindowState

NOW = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)
"""The fixed `now` of every core test: no test reads the real clock or sleeps."""

PROPERTY = settings(
    max_examples=int(os.environ.get("PAUSA_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
"""Fast by default; `PAUSA_PROPERTY_EXAMPLES=2000 pytest tests/core` searches harder."""


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def window(**overrides) -> WindowState:
    """An active full window that started 10 minutes ago with an ETA in 20 minutes."""
    fields = {
        "id": 1,
        "status": Status.ACTIVE,
        "mode": Mode.FULL,
        "reason": Reason.DEPLOYMENT,
        "message": "Deploying v2, back soon.",
        "starts_at": NOW - minutes(10),
        "eta": NOW + minutes(20),
    }
    fields.update(overrides)
    if isinstance(fields.get("allowed_networks"), list | tuple):
        fields["allowed_networks"] = tuple(
            ipaddress.ip_network(net, strict=False) if isinstance(net, str) else net
            for net in fields["allowed_networks"]
        )
    if isinstance(fields.get("allowed_roles"), list | set | tuple):
        fields["allowed_roles"] = frozenset(fields["allowed_roles"])
    if isinstance(fields.get("scope_paths"), list):
        fields["scope_paths"] = tuple(fields["scope_paths"])
    return WindowState(**fields)


def upcoming(**overrides) -> WindowState:
    """A scheduled window starting in 30 minutes, announced 60 minutes ahead."""
    fields = {
        "status": Status.SCHEDULED,
        "starts_at": NOW + minutes(30),
        "eta": NOW + minutes(90),
        "notice_minutes": 60,
    }
    fields.update(overrides)
    return window(**fields)


def state(*windows: WindowState, version: int = 1, stale: bool = False) -> GateState:
    return GateState(version=version, windows=tuple(windows), stale=stale)


def facts(path: str = "/", method: str = "GET", bypass_window_id: int | None = None) -> RequestFacts:
    return RequestFacts(path=path, method=method, bypass_window_id=bypass_window_id)


# ---------------------------------------------------------------- strategies

SEGMENT_ALPHABET = st.characters(codec="utf-8", exclude_characters="/\\?#\x00")
segments = st.one_of(
    st.sampled_from(["", ".", "..", "...", "admin", "ADMIN", "webhooks", "billing", "Billing", "static", "x"]),
    st.text(SEGMENT_ALPHABET, max_size=8),
)
separators = st.sampled_from(["/", "//", "\\", "/./", "/"])


@st.composite
def raw_paths(draw) -> str:
    """Paths as an attacker might spell them: mixed separators, dots, case and junk."""
    parts = draw(st.lists(segments, max_size=7))
    path = ""
    for part in parts:
        path += draw(separators) + part
    if draw(st.booleans()):
        path += draw(separators)
    return path or "/"


datetimes_near_now = st.integers(min_value=-3 * 24 * 3600, max_value=3 * 24 * 3600).map(
    lambda s: NOW + seconds(s)
)
networks = st.sampled_from(
    ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::ffff:198.51.100.0/120", "0.0.0.0/0"]
).map(ipaddress.ip_network)
client_ips = st.one_of(
    st.none(),
    st.sampled_from(["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.1.2.3", "198.51.100.9", "garbage", ""]),
    st.ip_addresses().map(str),
    st.text(max_size=12),
)
methods = st.sampled_from(["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "get", "post"])
viewers = st.builds(
    Viewer,
    role=st.sampled_from([None, "admin", "developer", "qa", "user"]),
    token_scopes=st.frozensets(st.sampled_from(["admin", "bypass"])),
)


@st.composite
def window_states(draw, window_id: int | None = None) -> WindowState:
    starts_at = draw(datetimes_near_now)
    eta = draw(st.one_of(st.none(), st.integers(1, 3 * 24 * 3600).map(lambda s: starts_at + seconds(s))))
    ends_at = draw(st.one_of(st.none(), st.integers(1, 3 * 24 * 3600).map(lambda s: starts_at + seconds(s))))
    return WindowState(
        id=window_id if window_id is not None else draw(st.integers(1, 5)),
        status=draw(st.sampled_from(Status)),
        mode=draw(st.sampled_from(Mode)),
        reason=draw(st.sampled_from(Reason)),
        message="m",
        starts_at=starts_at,
        eta=eta,
        ends_at=ends_at,
        notice_minutes=draw(st.integers(0, 600)),
        drain_minutes=draw(st.integers(0, 120)),
        scope_paths=tuple(draw(st.lists(st.sampled_from(["/billing", "/Reports", "/api/v1"]), max_size=2))),
        allowed_roles=draw(st.frozensets(st.sampled_from(["developer", "qa", "user"]))),
        allowed_networks=tuple(draw(st.lists(networks, max_size=2))),
        messages=tuple(draw(st.lists(st.tuples(st.sampled_from(["en", "pt-BR"]), st.text(max_size=8)),
                                     max_size=2, unique_by=lambda pair: pair[0]).map(sorted))),
    )


bypass_keys = st.builds(
    BypassKey,
    st.integers(1, 50),
    st.integers(1, 5),
    datetimes_near_now,
    st.text("0123456789abcdef", min_size=64, max_size=64),
)

gate_states = st.builds(
    lambda windows, stale, links: GateState(version=1, windows=tuple(windows), stale=stale,
                                            bypass_links=frozenset(links)),
    st.lists(window_states(), max_size=3),
    st.booleans(),
    st.lists(bypass_keys, max_size=3),
)
