"""The maintenance page and its poll partial, rendered once per window and shared by every visitor.

Every waiting browser — answered in-app, by the fast path, through the edge
check or by a host app's gate from the state feed — gets the same rendering
per window, language and variant (`pausa_gate.pages`), its slots filled for
its own answer: the seconds left and a jittered poll delay.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import Flask, render_template
from flask_babel import gettext
from pausa_gate.pages import (
    POLL_SLOT,
    START_MINUTES_SLOT,
    fill,
    slotted_facts,
    slotted_upcoming_facts,
    variant,
)
from pausa_gate.state import WindowState
from pausa_gate.windows import utcnow

from ..i18n import LANGUAGE_COOKIE, utc_datetime

PAGE = "public/maintenance.html"
PARTIAL = "public/partials/status.html"
CACHE_LIMIT = 256


class Pages:
    """One app's shared renderings, keyed by what they show (never by the second)."""

    def __init__(self, app: Flask):
        self.app = app
        self._cache: dict[tuple, str] = {}
        self._unavailable: dict[str, str] = {}
        self._drain_texts: dict[tuple, str] = {}
        config = app.config
        self.poll_range = (config["STATUS_POLL_MIN_SECONDS"], config["STATUS_POLL_MAX_SECONDS"])

    def slotted(
        self, template: str, window: WindowState | None, language: str, page_variant: str, *,
        render: bool = True, upcoming: WindowState | None = None, **flags: bool,
    ) -> str | None:
        """Return a rendering with its slots empty; None when not rendered yet and `render` is False.

        `upcoming` is the window still to come that a page with none in effect announces; a
        write refused during a drain (`draining`) is told about the window it waits for.
        """
        key = (template, window, upcoming, language, page_variant, tuple(sorted(flags.items())))
        html = self._cache.get(key)
        if html is None and render:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            facts = slotted_facts(window, utcnow(), page_variant, language) if window else None
            soon = upcoming or (window if flags.get("draining") else None)
            in_effect = None if flags.get("draining") else window
            html = render_shared(self.app, template, language, window=in_effect, facts=facts, upcoming=soon,
                                 upcoming_facts=slotted_upcoming_facts(soon, language) if soon else None,
                                 poll_seconds=POLL_SLOT, **flags)
            self._cache[key] = html
        return html

    def get(
        self, template: str, window: WindowState | None, now: datetime, language: str, *, render: bool = True,
        upcoming: WindowState | None = None, **flags: bool,
    ) -> str | None:
        """Return the rendering for an answer at `now`; None when not cached and `render` is False."""
        html = self.slotted(template, window, language, variant(window, now), render=render,
                            upcoming=upcoming, **flags)
        return None if html is None else fill(html, window, now, self.poll_range, upcoming=upcoming)

    def page(
        self, window: WindowState | None, now: datetime, language: str, *, blocked_write: bool = False,
        draining: bool = False, upcoming: WindowState | None = None, render: bool = True,
    ) -> str | None:
        """Return the whole maintenance page (a blocked write: "not saved", and why during a drain)."""
        flags = {"blocked_write": blocked_write}
        if draining:
            flags["draining"] = True
        return self.get(PAGE, window, now, language, render=render, upcoming=upcoming, **flags)

    def slotted_drain_text(self, window: WindowState, language: str, *, render: bool = True) -> str | None:
        """Return the sentence for a write refused during the drain, its slots empty (the feed carries it)."""
        key = (window, language)
        text = self._drain_texts.get(key)
        if text is None and render:
            with _shared_context(self.app, language):
                text = gettext(
                    "Your change was not saved: changes are paused because maintenance starts at %(time)s "
                    "(in %(minutes)s min). Browsing still works; your input is kept on this device.",
                    time=utc_datetime(window.starts_at), minutes=START_MINUTES_SLOT,
                )
            if len(self._drain_texts) >= CACHE_LIMIT:
                self._drain_texts.clear()
            self._drain_texts[key] = text
        return text

    def drain_text(
        self, window: WindowState, now: datetime, language: str, *, render: bool = True
    ) -> str | None:
        """Say, in `language`, that a write was refused because the window's drain period began."""
        text = self.slotted_drain_text(window, language, render=render)
        return None if text is None else fill(text, window, now, self.poll_range)

    def unavailable_message(self, language: str, *, render: bool = True) -> str | None:
        """Say "temporarily unavailable" in `language` (what the fail mode's stand-in window says)."""
        text = self._unavailable.get(language)
        if text is None and render:
            with _shared_context(self.app, language):
                text = gettext("The service is temporarily unavailable. Please try again in a few minutes.")
            self._unavailable[language] = text
        return text


def render_shared(app: Flask, template: str, language: str, **context: object) -> str:
    """Render a page shared by every visitor from configuration alone, never from this request.

    Whichever request comes first builds the rendering the others receive, so it is built in
    a fresh context of its own: links start with the configured SCRIPT_NAME (not the
    request's, which a client or proxy may set), and no Host, query, cookie or signed-in
    user of the triggering request can reach it (docs/deploy.md).
    """
    with _shared_context(app, language):
        return render_template(template, **context)


@contextmanager
def _shared_context(app: Flask, language: str) -> Iterator[None]:
    """Enter a fresh app and request context of Pausa's own, in `language`."""
    base_url = "http://localhost" + app.config["SCRIPT_NAME"] + "/"
    with app.app_context(), app.test_request_context(
        "/maintenance", base_url=base_url, headers={"Cookie": f"{LANGUAGE_COOKIE}={language}"}
    ):
        yield
