"""What a blocked request gets, whichever gate blocked it: JSON, an htmx refresh, or the page.

Every block carries Retry-After, Cache-Control: no-store and X-Maintenance: active
so monitors can tell planned maintenance from an outage.
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
from .windows import public_facts, retry_after_seconds

HTML = "text/html; charset=utf-8"
JSON = "application/json"
BLOCKED = 503


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
        render: bool = True,
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
