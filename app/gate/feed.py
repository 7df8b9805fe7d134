"""The state feed a host app's gate follows (`GET /gate/state`, docs/embedded.md), built per state.

It is built once per state this worker holds — the document, the gate's settings
and every page variant a live window can need, in every language — and answered
from memory to every follower; `If-None-Match` answers 304, and a long-poll waits
(boundedly, a few followers per worker) until the state moves.
"""

from __future__ import annotations

import threading

from flask import Flask
from pausa_gate import document, feed
from pausa_gate.pages import PLAIN, variants_of
from pausa_gate.state import GateState, Status, WindowState, unknown_state

from ..extensions import GATE_KEY
from ..i18n import LANGUAGES
from .pages import PAGE

KINDS = ("read", "write")  # the page a blocked read gets, and the one saying a change was not saved


class FeedCache:
    """The feed of the last state seen, and a bound on the followers held waiting for the next one."""

    def __init__(self, app: Flask):
        self.app = app
        self._built: tuple[GateState, bytes, str] | None = None
        self._lock = threading.Lock()
        self.waiters = threading.BoundedSemaphore(app.config["GATE_FEED_MAX_WAITERS"])

    def for_state(self, state: GateState) -> tuple[bytes, str]:
        """Return the feed's body and ETag for this state (built once per state)."""
        built = self._built
        if built is not None and built[0] is state:
            return built[1], built[2]
        with self._lock:
            built = self._built
            if built is None or built[0] is not state:
                data = self._build(state)
                built = (state, feed.dumps(data).encode(), feed.etag_of(data))
                self._built = built
        return built[1], built[2]

    @staticmethod
    def _kinds(pages, window, language: str, page_variant: str) -> dict[str, str | None]:
        kinds = {kind: pages.slotted(PAGE, window, language, page_variant, blocked_write=(kind == "write"))
                 for kind in KINDS}
        if _drains(window):
            # What a write refused during the drain period gets: the page, and the sentence (JSON, htmx).
            kinds["drain"] = pages.slotted(PAGE, window, language, page_variant, blocked_write=True,
                                           draining=True)
            kinds["drain_text"] = pages.slotted_drain_text(window, language)
        return kinds

    def _build(self, state: GateState) -> dict:
        gate = self.app.extensions[GATE_KEY]
        pages = gate.pages
        windows = {}
        for window in state.windows:
            windows[str(window.id)] = {
                language: {page_variant: self._kinds(pages, window, language, page_variant)
                           for page_variant in variants_of(window)}
                for language in LANGUAGES
            }
        stand_in = unknown_state().windows[0]
        unavailable = {
            language: {
                "message": pages.unavailable_message(language),
                **self._kinds(pages, stand_in, language, PLAIN),
            }
            for language in LANGUAGES
        }
        config = self.app.config
        # No publication time: the same state must always give the same feed (and ETag).
        return feed.build(
            document.to_document(state),
            allowlist=gate.edge_allowlist,
            prefix=gate.prefix,
            status_url=gate.edge_status_url,
            poll_range=pages.poll_range,
            fail_mode=config["MAINTENANCE_FAIL_MODE"],
            pages={"windows": windows, "unavailable": unavailable},
        )


def _drains(window: WindowState) -> bool:
    """Tell whether a window can still refuse writes before its start (a scheduled one with a drain)."""
    return window.status is Status.SCHEDULED and window.drain_minutes > 0
