"""What a blocked request gets, whichever gate blocked it: JSON, an htmx refresh, or the page.

Every block carries Retry-After, Cache-Control: no-store and X-Maintenance: active
so monitors can tell planned maintenance from an outage. A write refused during a
drain period (the window has not started; browsing still works) says so instead:
`"error": "writes_paused"` in JSON, the plain sentence for htmx (no reload: the page
the visitor is on still works) and a page that says the change was not saved and why.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .asking import Ask
from .decision import Decision
from .languages import LANGUAGE_COOKIE, choose_language
from .state import UNKNOWN_WINDOW_ID, WindowState
from .windows import public_facts, retry_after_seconds, seconds_until_start

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
BLOCKED = 503
# Marks the answer to a write refused during a drain period (scripts tell it from a real block by it).
WRITES_PAUSED_HEADER = ("X-Pausa-Writes", "paused")


@dataclass(frozen=True, slots=True)
class Answer:
    """A whole HTTP answer, independent of any framework."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""


class Pages(Protocol):
    """Where the maintenance page comes from: Pausa renders it, a host app's gate reads it from the feed."""

    def page(
        self, window: WindowState | None, now: datetime, language: str, *, blocked_write: bool = False,
        draining: bool = False, render: bool = True,
    ) -> str | None: ...

    def drain_text(
        self, window: WindowState, now: datetime, language: str, *, render: bool = True
    ) -> str | None: ...

    def unavailable_message(self, language: str, *, render: bool = True) -> str | None: ...


def block_headers(window: WindowState | None, now: datetime) -> list[tuple[str, str]]:
    """Return the headers every block carries."""
    return [
        ("Retry-After", str(retry_after_seconds(window, now))),
        ("Cache-Control", "no-store"),
        ("X-Maintenance", "active"),
    ]


def language_of(ask: Ask) -> str:
    return choose_language(ask.accept_language, ask.cookie(LANGUAGE_COOKIE))


def block(
    ask: Ask, decision: Decision, now: datetime, pages: Pages, status_url: str, *, render: bool = True
) -> Answer | None:
    """Answer a blocked request; None when `render` is False and a rendering is not cached yet."""
    window = decision.window
    headers = block_headers(window, now)
    if decision.draining and window is not None:
        return writes_paused(ask, window, now, pages, status_url, headers, render=render)
    if ask.wants_json:
        facts = public_facts(window, now) if window is not None else {}
        message = facts.get("message")
        if window is None or window.id == UNKNOWN_WINDOW_ID:
            message = pages.unavailable_message(language_of(ask), render=render)
            if message is None:
                return None
        body = {
            "error": "maintenance",
            "message": message,
            "reason": facts.get("reason"),
            "mode": facts.get("mode"),
            "eta": facts.get("eta"),
            "retry_after": facts.get("retry_after"),
            "status_url": status_url,
            "draining": decision.draining,
        }
        content = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return Answer(BLOCKED, [("Content-Type", JSON), *headers, ("Vary", "Accept, HX-Request")], content)
    if ask.wants_fragment:
        # htmx acts on HX-Refresh whatever the status: the browser reloads into the page.
        return Answer(
            BLOCKED,
            [("Content-Type", HTML), ("HX-Refresh", "true"), *headers, ("Vary", "Accept, HX-Request")],
            b"Maintenance in progress.",
        )
    html = pages.page(window, now, language_of(ask), blocked_write=ask.writes, render=render)
    if html is None:
        return None
    return Answer(
        BLOCKED,
        [("Content-Type", HTML), *headers, ("Vary", "Accept, HX-Request, Accept-Language, Cookie")],
        html.encode(),
    )


def writes_paused(
    ask: Ask, window: WindowState, now: datetime, pages: Pages, status_url: str,
    headers: list[tuple[str, str]], *, render: bool = True,
) -> Answer | None:
    """Answer a write refused during the drain period: nothing is down, only changes are paused."""
    language = language_of(ask)
    headers = [*headers, WRITES_PAUSED_HEADER]
    if ask.wants_json or ask.wants_fragment:
        text = pages.drain_text(window, now, language, render=render)
        if text is None:
            return None
        if ask.wants_fragment:
            # No HX-Refresh: a reload would show the page as if nothing had happened. The sentence
            # is the body; Pausa's app.js (and watch.js on a protected app) shows it.
            return Answer(BLOCKED, [("Content-Type", TEXT), *headers, ("Vary", "Accept, HX-Request")],
                          text.encode())
        facts = public_facts(window, now)
        body = {
            "error": "writes_paused",
            "message": text,
            "window_message": facts["message"],
            "reason": facts["reason"],
            "mode": facts["mode"],
            "starts_at": facts["starts_at"],
            "seconds_until_start": seconds_until_start(window, now),
            "eta": facts["eta"],
            "retry_after": facts["retry_after"],
            "status_url": status_url,
            "draining": True,
        }
        content = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        return Answer(BLOCKED, [("Content-Type", JSON), *headers, ("Vary", "Accept, HX-Request")], content)
    html = pages.page(window, now, language, blocked_write=True, draining=True, render=render)
    if html is None:
        return None
    return Answer(
        BLOCKED,
        [("Content-Type", HTML), *headers, ("Vary", "Accept, HX-Request, Accept-Language, Cookie")],
        html.encode(),
    )
