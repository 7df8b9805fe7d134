"""The maintenance page and its poll partial, rendered once a second and shared by every visitor.

What a visitor sees changes at most once a second (the countdown), so during
maintenance every waiting browser — answered in-app, by the fast path or
through the edge check — shares one rendering per window, second and
language; each answer still gets its own jittered poll delay, filled into the
shared text.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime

from flask import Flask, render_template
from flask_babel import gettext

from ..i18n import LANGUAGE_COOKIE
from ..maintenance.state import WindowState
from ..maintenance.windows import public_facts

PAGE = "public/maintenance.html"
PARTIAL = "public/partials/status.html"
POLL_SLOT = "__pausa_poll_seconds__"
CACHE_LIMIT = 64


def poll_seconds(window: WindowState | None, now: datetime, config: Mapping) -> int:
    """Pick the next poll delay: sooner when the ETA is near, always with jitter.

    The jitter spreads thousands of waiting browsers so they do not all
    come back in the same second when the window ends.
    """
    low = config["STATUS_POLL_MIN_SECONDS"]
    high = max(low, config["STATUS_POLL_MAX_SECONDS"])
    if window is not None and window.eta is not None:
        remaining = max(0, int((window.eta - now).total_seconds()))
        high = max(low, min(high, remaining // 4 or low))
    return random.randint(low, high)


class Pages:
    """One app's shared renderings, keyed by what they show."""

    def __init__(self, app: Flask):
        self.app = app
        self._cache: dict[tuple, str] = {}
        self._unavailable: dict[str, str] = {}

    def get(
        self, template: str, window: WindowState | None, now: datetime, language: str, *, render: bool = True,
        **flags: bool,
    ) -> str | None:
        """Return the rendering with a fresh poll delay; None when not cached and `render` is False."""
        key = (template, window, int(now.timestamp()), language, tuple(sorted(flags.items())))
        html = self._cache.get(key)
        if html is None:
            if not render:
                return None
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            html = render_shared(
                self.app,
                template,
                language,
                window=window,
                facts=public_facts(window, now) if window else None,
                poll_seconds=POLL_SLOT,
                **flags,
            )
            self._cache[key] = html
        return html.replace(POLL_SLOT, str(poll_seconds(window, now, self.app.config)))

    def page(
        self, window: WindowState | None, now: datetime, language: str, *, blocked_write: bool = False,
        render: bool = True,
    ) -> str | None:
        """Return the whole maintenance page (it says "not saved" to a blocked write)."""
        return self.get(PAGE, window, now, language, render=render, blocked_write=blocked_write)

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
