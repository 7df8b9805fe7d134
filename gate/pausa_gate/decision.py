"""The gate's decision: allow, allow with a banner, or block a request."""

from __future__ import annotations

import enum
import ipaddress
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .asking import Ask
from .cookies import COOKIE, bypass_window_id
from .paths import is_under_any, normalise_path
from .state import ANONYMOUS, GateState, Mode, RequestFacts, Status, Viewer, WindowState
from .windows import (
    LIVE_STATUSES,
    draining_window,
    is_draining,
    is_in_effect,
    is_overdue,
    upcoming_window,
    window_in_effect,
)

# Reachable whatever a window says: machines, the maintenance page itself and
# the ways in for the people who end maintenance (admin routes keep their auth).
ALWAYS_ALLOWED = (
    "/static",
    "/health",
    "/metrics",
    "/webhooks",
    "/maintenance",
    "/auth/login",
    "/auth/logout",
    "/auth/set-password",  # a one-time link, so a locked-out operator gets back in during a window
    "/admin",
    "/api/admin",
    "/bypass",
    "/gate",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BYPASS_ROLES = frozenset({"admin"})
BYPASS_SCOPE = "bypass"


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    BANNER = "banner"
    BLOCK = "block"


class Bypass(enum.StrEnum):
    ROLE = "role"
    IP = "ip"
    COOKIE = "cookie"
    TOKEN = "token"


@dataclass(frozen=True)
class Decision:
    """The gate's answer, with the window it is about and why a block was bypassed."""

    outcome: Outcome
    window: WindowState | None = None
    bypass: Bypass | None = None
    draining: bool = False

    @property
    def blocked(self) -> bool:
        return self.outcome is Outcome.BLOCK


ALLOW = Decision(Outcome.ALLOW)


def decide(
    facts: RequestFacts,
    viewer: Viewer,
    client_ip: str | None,
    state: GateState,
    now: datetime,
    *,
    allowlist: tuple[str, ...] = (),
    always_allowed: tuple[str, ...] = ALWAYS_ALLOWED,
) -> Decision:
    """Decide what the gate does with one request at `now`.

    Rules, in order: always-allowed paths (Pausa's own, unless the request is for
    another system behind the edge gate) and the allowlist; no window in effect (a
    banner when one is announced or draining); bypass by role, IP, bypass cookie or
    token; then the window's mode decides which requests are blocked.
    """
    path = normalise_path(facts.path)
    if is_under_any(path, always_allowed) or is_under_any(path, allowlist):
        return ALLOW

    window = window_in_effect(state, now)
    if window is None:
        draining = draining_window(state, now)
        if draining is not None and facts.method.upper() not in SAFE_METHODS:
            return _block_unless_bypassed(draining, facts, viewer, client_ip, draining=True)
        announced = draining or upcoming_window(state, now)
        if announced is None:
            return ALLOW
        return Decision(Outcome.BANNER, announced, draining=draining is not None)

    if not _is_affected(window, path, facts.method):
        return Decision(Outcome.BANNER, window)
    return _block_unless_bypassed(window, facts, viewer, client_ip)


def decide_ask(
    ask: Ask,
    state: GateState,
    now: datetime,
    *,
    allowlist: tuple[str, ...] = (),
    always_allowed: tuple[str, ...] = ALWAYS_ALLOWED,
    viewer: Callable[[], Viewer] | None = None,
) -> Decision:
    """Decide for one request the way every gate does (in-app, edge, embedded).

    Anonymously first; only a block asks for the bypass cookie and for who is asking
    (`viewer`, called lazily: it may cost a lookup).
    """
    facts = RequestFacts(path=ask.path, method=ask.method)
    decision = decide(facts, ANONYMOUS, ask.client_ip, state, now, allowlist=allowlist,
                      always_allowed=always_allowed)
    if not decision.blocked:
        return decision
    cookie = ask.cookie(COOKIE)
    window_id = bypass_window_id(cookie, state, now) if cookie is not None else None
    who = viewer() if viewer is not None else ANONYMOUS
    if window_id is None and who == ANONYMOUS:
        return decision
    return decide(replace(facts, bypass_window_id=window_id), who, ask.client_ip, state, now,
                  allowlist=allowlist, always_allowed=always_allowed)


def seconds_everyone_passes(state: GateState, now: datetime) -> float:
    """Return how long from `now` every request is allowed, whoever sends it: 0 when not now.

    Nothing is blocked while no window is in effect or draining, so until the next
    one begins (its drain first) an answer "allowed" holds for any request.
    """
    if state.unknown:
        return 0.0
    horizon = math.inf
    for window in state.windows:
        if is_in_effect(window, now) or is_draining(window, now):
            return 0.0
        if window.status not in LIVE_STATUSES:
            continue
        # Writes are refused from the drain's start, and only a scheduled window drains.
        drain = timedelta(minutes=window.drain_minutes if window.status is Status.SCHEDULED else 0)
        for begins in (window.starts_at - drain, window.starts_at):
            if begins > now:
                horizon = min(horizon, (begins - now).total_seconds())
    return horizon


def _is_affected(window: WindowState, path: str, method: str) -> bool:
    """Tell whether the window's mode covers this request."""
    if window.mode is Mode.READ_ONLY:
        return method.upper() not in SAFE_METHODS
    if window.mode is Mode.SCOPED:
        # Case-insensitive so that `/Billing` cannot slip past a `/billing` scope.
        return is_under_any(path, window.scope_paths, ignore_case=True)
    return True


def _block_unless_bypassed(
    window: WindowState,
    facts: RequestFacts,
    viewer: Viewer,
    client_ip: str | None,
    *,
    draining: bool = False,
) -> Decision:
    """Block, unless this viewer may pass through the window."""
    bypass = bypass_reason(window, facts, viewer, client_ip)
    if bypass is not None:
        return Decision(Outcome.BANNER, window, bypass=bypass, draining=draining)
    return Decision(Outcome.BLOCK, window, draining=draining)


def bypass_reason(
    window: WindowState, facts: RequestFacts, viewer: Viewer, client_ip: str | None
) -> Bypass | None:
    """Return why this viewer may pass through the window, or None."""
    if viewer.role is not None and (
        viewer.role in BYPASS_ROLES or viewer.role in window.allowed_roles
    ):
        return Bypass.ROLE
    if BYPASS_SCOPE in viewer.token_scopes:
        return Bypass.TOKEN
    if facts.bypass_window_id is not None and facts.bypass_window_id == window.id:
        return Bypass.COOKIE
    if client_ip and window.allowed_networks and _ip_in(client_ip, window.allowed_networks):
        return Bypass.IP
    return None


def _ip_in(client_ip: str, networks: tuple) -> bool:
    """Tell whether the textual IP falls in any network; garbage never matches."""
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return False
    # An IPv4 client may be reported as `::ffff:a.b.c.d` (dual-stack sockets) and an
    # admin may paste either spelling into allowed_ips: compare both forms.
    candidates = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        candidates.append(address.ipv4_mapped)
    elif isinstance(address, ipaddress.IPv4Address):
        candidates.append(ipaddress.IPv6Address(f"::ffff:{address}"))
    return any(
        candidate.version == net.version and candidate in net for candidate in candidates for net in networks
    )


def banner_facts(decision: Decision, now: datetime) -> dict | None:
    """Describe what the banner on a normal page says for this decision, or None."""
    window = decision.window
    if window is None:
        return None
    in_effect = is_in_effect(window, now)
    if decision.bypass is not None and in_effect:
        kind = "bypass"
    elif decision.draining:
        kind = "draining"
    elif in_effect:
        kind = "active"
    else:
        kind = "upcoming"
    target = window.starts_at if kind in ("upcoming", "draining") else window.eta
    seconds = None if target is None else max(0, math.ceil((target - now).total_seconds()))
    return {
        "kind": kind,
        "mode": window.mode.value,
        "message": window.message,
        "seconds": seconds,
        "at": target.isoformat() if target else None,
        "overdue": kind in ("active", "bypass") and is_overdue(window, now),
    }
