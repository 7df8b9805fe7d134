"""Time rules of maintenance windows: when one is in effect, draining, announced or overdue."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from .state import GateState, Status, WindowState

RETRY_AFTER_MIN = 30
RETRY_AFTER_MAX = 3600
RETRY_AFTER_DEFAULT = 300
LIVE_STATUSES = (Status.SCHEDULED, Status.ACTIVE)

_RELATIVE = re.compile(r"^\s*(\d{1,5})\s*(s|m|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def is_in_effect(window: WindowState, now: datetime) -> bool:
    """Tell whether the window blocks traffic at `now`, from the clock alone."""
    if window.status not in LIVE_STATUSES or now < window.starts_at:
        return False
    return window.ends_at is None or now < window.ends_at


def is_draining(window: WindowState, now: datetime) -> bool:
    """Tell whether `now` falls in the drain period just before the window starts."""
    if window.status is not Status.SCHEDULED or window.drain_minutes <= 0:
        return False
    drain_from = window.starts_at - timedelta(minutes=window.drain_minutes)
    return drain_from <= now < window.starts_at


def is_announced(window: WindowState, now: datetime) -> bool:
    """Tell whether a future window is within its notice period (or draining)."""
    if window.status is not Status.SCHEDULED or now >= window.starts_at:
        return False
    lead = timedelta(minutes=max(window.notice_minutes, window.drain_minutes))
    return window.starts_at - lead <= now


def window_in_effect(state: GateState, now: datetime) -> WindowState | None:
    """Return the window that is in effect at `now`, if any."""
    for window in state.windows:
        if is_in_effect(window, now):
            return window
    return None


def upcoming_window(state: GateState, now: datetime) -> WindowState | None:
    """Return the soonest future window whose banner should already show."""
    announced = [w for w in state.windows if is_announced(w, now)]
    return min(announced, key=lambda w: w.starts_at, default=None)


def draining_window(state: GateState, now: datetime) -> WindowState | None:
    """Return the window whose drain period covers `now`, if any."""
    for window in state.windows:
        if is_draining(window, now):
            return window
    return None


def seconds_until_eta(window: WindowState, now: datetime) -> int | None:
    """Return whole seconds left until the ETA, never negative; None without an ETA."""
    if window.eta is None:
        return None
    return max(0, math.ceil((window.eta - now).total_seconds()))


def seconds_until_start(window: WindowState, now: datetime) -> int:
    """Return whole seconds left until the window starts, never negative."""
    return max(0, math.ceil((window.starts_at - now).total_seconds()))


def is_overdue(window: WindowState, now: datetime) -> bool:
    """Tell whether the ETA has passed while the window is still in effect."""
    return window.eta is not None and now >= window.eta and is_in_effect(window, now)


def retry_after_seconds(window: WindowState | None, now: datetime) -> int:
    """Return the Retry-After value: seconds to the ETA, clamped, 300 without an ETA."""
    if window is None or window.eta is None:
        return RETRY_AFTER_DEFAULT
    remaining = seconds_until_eta(window, now) or 0
    return min(RETRY_AFTER_MAX, max(RETRY_AFTER_MIN, remaining))


def relative_offset(text: str) -> timedelta | None:
    """Return the length of a relative time (`30m`, `2h`, `45s`, `1d`), or None for any other text."""
    relative = _RELATIVE.match(text or "")
    if relative is None:
        return None
    return timedelta(seconds=int(relative.group(1)) * _UNIT_SECONDS[relative.group(2).lower()])


def parse_moment(text: str, now: datetime) -> datetime:
    """Parse `30m`, `2h`, `45s`, `1d` (relative to now) or ISO-8601 into aware UTC.

    An ISO time without an offset is read as UTC. Raises ValueError on anything else,
    including a time whose UTC form falls outside years 1-9999 (9999-12-31T23:00-05:00).
    """
    text = (text or "").strip()
    if not text:
        raise ValueError("empty")
    offset = relative_offset(text)
    if offset is not None:
        return now + offset
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


def overlaps(
    a_start: datetime, a_end: datetime | None, b_start: datetime, b_end: datetime | None
) -> bool:
    """Tell whether two half-open intervals overlap; a missing end means open-ended."""
    a_before_b_ends = b_end is None or a_start < b_end
    b_before_a_ends = a_end is None or b_start < a_end
    return a_before_b_ends and b_before_a_ends


def public_facts(window: WindowState, now: datetime) -> dict:
    """Return what end users and machines may know about a window, JSON-ready."""
    return {
        "id": window.id,
        "message": window.message,
        "reason": window.reason.value,
        "mode": window.mode.value,
        "starts_at": window.starts_at.isoformat(),
        "eta": window.eta.isoformat() if window.eta else None,
        "seconds_remaining": seconds_until_eta(window, now),
        "overdue": is_overdue(window, now),
        "retry_after": retry_after_seconds(window, now),
        "scope_paths": list(window.scope_paths),
    }


def upcoming_facts(window: WindowState, now: datetime) -> dict:
    """Return what may be known about a window still to come: its countdown runs to the start."""
    facts = public_facts(window, now)
    facts["seconds_remaining"] = seconds_until_start(window, now)
    facts["seconds_until_start"] = facts["seconds_remaining"]
    facts["seconds_until_eta"] = seconds_until_eta(window, now)
    facts["draining"] = is_draining(window, now)
    return facts


def find_overlap(
    starts_at: datetime,
    ends_at: datetime | None,
    windows: Iterable[WindowState],
    exclude_id: int | None = None,
) -> WindowState | None:
    """Return the first scheduled or active window that overlaps [starts_at, ends_at).

    A window without `ends_at` is open-ended (it lasts until someone ends it), so it
    overlaps everything after its start; adjacent windows [a, b) and [b, c) do not overlap.
    """
    for window in windows:
        if window.id == exclude_id or window.status not in LIVE_STATUSES:
            continue
        if overlaps(starts_at, ends_at, window.starts_at, window.ends_at):
            return window
    return None


def is_due_to_start(window: WindowState, now: datetime) -> bool:
    """Tell whether a scheduled window's start has come (the worker records the transition)."""
    return window.status is Status.SCHEDULED and window.starts_at <= now


def exceeds_ceiling(window: WindowState, now: datetime, max_hours: float) -> bool:
    """Tell whether a window in effect has lasted longer than the hard ceiling."""
    return is_in_effect(window, now) and now - window.starts_at >= timedelta(hours=max_hours)
