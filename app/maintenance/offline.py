"""Changes an operator makes while the database is down: the new gate state they lead to.

With Redis configured, `flask maintenance on|off` still works when the
database does not answer: the change becomes a new state document, marked
pending, that every worker enforces at once; the change itself waits in Redis
and is written to the database, with its audit entry, when it returns. See
docs/fail-safe.md. This module only computes states; it stores nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from pausa_gate.state import GateState, Mode, Reason, Status, WindowState, message_pairs
from pausa_gate.windows import window_in_effect


class OfflineConflict(Exception):
    """The change does not apply to the state in force (like the database's own refusals)."""


def provisional_window(window_id: int, values: Mapping[str, Any], now: datetime) -> WindowState:
    """Build the window an activation made now would create, from validated values."""
    return WindowState(
        id=window_id,
        status=Status.ACTIVE,
        mode=Mode(values.get("mode", Mode.FULL)),
        reason=Reason(values.get("reason", Reason.OTHER)),
        message=values.get("message") or "",
        messages=message_pairs(values.get("messages")),
        starts_at=now,
        eta=values.get("eta"),
        ends_at=values.get("ends_at"),
        scope_paths=tuple(values.get("scope_paths") or ()),
        allowed_roles=frozenset(values.get("allowed_roles") or ()),
        allowed_networks=tuple(
            ipaddress.ip_network(network, strict=False) for network in values.get("allowed_ips") or ()
        ),
        pause_webhook_processing=bool(values.get("pause_webhook_processing", False)),
    )


def activated(state: GateState, window: WindowState, now: datetime) -> GateState:
    """Return the state with `window` started; refuse while another window is in effect."""
    current = window_in_effect(state, now)
    if current is not None:
        raise OfflineConflict(f"Maintenance is already active (window {current.id}); end it first.")
    return replace(state, version=state.version + 1, windows=(*state.windows, window), pending=True,
                   stale=False, unknown=False)


def ended(state: GateState, now: datetime) -> tuple[GateState, WindowState]:
    """Return the state with the window in effect ended, and that window; refuse when there is none."""
    current = window_in_effect(state, now)
    if current is None:
        raise OfflineConflict("No maintenance is active.")
    windows = tuple(window for window in state.windows if window.id != current.id)
    return replace(state, version=state.version + 1, windows=windows, pending=True, stale=False,
                   unknown=False), current
