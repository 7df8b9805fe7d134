"""The maintenance page as every gate serves it: rendered once per window, filled per answer.

Pausa renders the page from its templates once per window, language and
variant, with slots where the time-dependent parts go (the seconds left, the
minutes shown before JavaScript starts, the jittered poll delay). Each answer
fills the slots for its own `now`: Pausa's own gate does it from its cache, a
host app's gate from the pages the state feed carries. So everyone sees the
same page, and it never needs rendering on the request path.
"""

from __future__ import annotations

import html
import math
import random
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .state import UNKNOWN_WINDOW_ID, WindowState
from .windows import is_overdue, public_facts, seconds_until_eta, seconds_until_start

POLL_SLOT = "__pausa_poll_seconds__"
SECONDS_SLOT = "__pausa_seconds__"
MINUTES_SLOT = "__pausa_minutes__"
# A window still to come (announced, or draining: writes paused) counts down to its start.
START_SECONDS_SLOT = "__pausa_start_seconds__"
START_MINUTES_SLOT = "__pausa_start_minutes__"

COUNTDOWN = "countdown"  # an ETA still ahead: the page counts down
OVERDUE = "overdue"  # the ETA has passed and the window goes on
PLAIN = "plain"  # no ETA (or nothing known): "back as soon as we can"
VARIANTS = (COUNTDOWN, OVERDUE, PLAIN)


def variant(window: WindowState | None, now: datetime) -> str:
    """Return which of a window's page variants holds at `now`."""
    if window is None or window.eta is None or window.id == UNKNOWN_WINDOW_ID:
        return PLAIN
    return OVERDUE if is_overdue(window, now) else COUNTDOWN


def variants_of(window: WindowState | None) -> tuple[str, ...]:
    """Return every variant a window's page can need."""
    if window is None or window.eta is None or window.id == UNKNOWN_WINDOW_ID:
        return (PLAIN,)
    return (COUNTDOWN, OVERDUE)


def slotted_facts(
    window: WindowState, now: datetime, page_variant: str, language: str | None = None
) -> dict[str, Any]:
    """Return what the page shows about a window, with slots for the parts that change every second.

    The message is the one written for `language` (the page's), else the window's default message.
    """
    facts = public_facts(window, now)
    facts["message"] = window.message_in(language)
    facts["overdue"] = page_variant == OVERDUE
    if page_variant == COUNTDOWN:
        facts["seconds_remaining"] = SECONDS_SLOT
        facts["minutes_remaining"] = MINUTES_SLOT
    else:
        facts["seconds_remaining"] = None
    return facts


def slotted_upcoming_facts(window: WindowState, language: str | None = None) -> dict[str, Any]:
    """Return what a page says about a window still to come, with slots for the time to its start."""
    return {
        "id": window.id,
        "message": window.message_in(language),
        "reason": window.reason.value,
        "mode": window.mode.value,
        "starts_at": window.starts_at.isoformat(),
        "eta": window.eta.isoformat() if window.eta else None,
        "seconds_until_start": START_SECONDS_SLOT,
        "minutes_until_start": START_MINUTES_SLOT,
    }


def poll_seconds(window: WindowState | None, now: datetime, low: int, high: int) -> int:
    """Pick the next poll delay: sooner when the ETA is near, always with jitter.

    The jitter spreads thousands of waiting browsers so they do not all
    come back in the same second when the window ends.
    """
    high = max(low, high)
    if window is not None and window.eta is not None:
        remaining = max(0, int((window.eta - now).total_seconds()))
        high = max(low, min(high, remaining // 4 or low))
    return random.randint(low, high)


def fill(
    text: str, window: WindowState | None, now: datetime, poll_range: tuple[int, int],
    upcoming: WindowState | None = None,
) -> str:
    """Fill a rendering's slots for one answer at `now` (`upcoming`: the window still to come, if any)."""
    if SECONDS_SLOT in text:
        seconds = (seconds_until_eta(window, now) or 0) if window is not None else 0
        text = text.replace(SECONDS_SLOT, str(seconds)).replace(MINUTES_SLOT, str(seconds // 60))
    starting = upcoming or window
    if START_SECONDS_SLOT in text or START_MINUTES_SLOT in text:
        seconds = seconds_until_start(starting, now) if starting is not None else 0
        # "Starts in 0 min" would read as "already started": round the minutes up.
        minutes = math.ceil(seconds / 60)
        text = text.replace(START_SECONDS_SLOT, str(seconds)).replace(START_MINUTES_SLOT, str(minutes))
    return text.replace(POLL_SLOT, str(poll_seconds(window, now, *poll_range)))


# What a host app's gate says to a write refused during a drain when its feed (from an older Pausa)
# carries no wording for it.
WRITES_PAUSED_MESSAGE = (
    "Your change was not saved: changes are paused because maintenance starts soon. Browsing still works."
)

# What a host app's gate shows when it knows nothing at all (no feed yet, no state file) and
# fails closed: it has no page from Pausa, so it says the least, in English.
UNAVAILABLE_MESSAGE = "The service is temporarily unavailable. Please try again in a few minutes."
BUILT_IN_PAGE = (
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    f"<meta http-equiv=\"refresh\" content=\"{POLL_SLOT}\"><title>Temporarily unavailable</title></head>"
    f"<body><main><h1>We’ll be right back</h1><p>{html.escape(UNAVAILABLE_MESSAGE)}</p>"
    "<p>This page will reload by itself.</p></main></body></html>"
)


class FeedPages:
    """The pages a state feed carries, served by a host app's gate (see `pausa_gate.answers.Pages`).

    `data` is the feed's "pages" object: {"windows": {id: {language: {variant: {"read": html,
    "write": html, "drain": html, "drain_text": text}}}}, "unavailable": {language: {"message": text,
    "read": html, "write": html}}}. "drain" and "drain_text" (what a write refused during the drain
    period gets) come only with a scheduled window that has a drain period.
    """

    def __init__(self, data: Mapping[str, Any] | None, poll_range: tuple[int, int] = (5, 30)):
        data = data or {}
        self.windows: Mapping[str, Any] = data.get("windows") or {}
        self.unavailable: Mapping[str, Any] = data.get("unavailable") or {}
        self.poll_range = poll_range

    def page(
        self, window: WindowState | None, now: datetime, language: str, *, blocked_write: bool = False,
        draining: bool = False, render: bool = True,
    ) -> str:
        """Return the page for a window in `language` (English, then the generic page, when missing)."""
        kind = "write" if blocked_write or draining else "read"
        found = self._find(window, now, language, "drain") if draining else None
        # A feed from an older Pausa has no drain page: the "not saved" page is the next best.
        found = found or self._find(window, now, language, kind)
        if found is None:
            generic = self.unavailable.get(language) or self.unavailable.get("en") or {}
            found = generic.get(kind) or BUILT_IN_PAGE
        return fill(found, window, now, self.poll_range)

    def drain_text(self, window: WindowState, now: datetime, language: str, *, render: bool = True) -> str:
        """Say, in `language`, that a write was refused because the window's drain period began."""
        found = self._find(window, now, language, "drain_text")
        return WRITES_PAUSED_MESSAGE if found is None else fill(found, window, now, self.poll_range)

    def _find(self, window: WindowState | None, now: datetime, language: str, kind: str) -> str | None:
        if window is None or window.id == UNKNOWN_WINDOW_ID:
            return None
        texts = self.windows.get(str(window.id)) or {}
        by_variant = texts.get(language) or texts.get("en") or {}
        return (by_variant.get(variant(window, now)) or {}).get(kind)

    def unavailable_message(self, language: str, *, render: bool = True) -> str:
        """Say "temporarily unavailable" in `language`."""
        generic = self.unavailable.get(language) or self.unavailable.get("en") or {}
        return generic.get("message") or UNAVAILABLE_MESSAGE
