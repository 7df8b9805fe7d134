"""Answer the two floods of a maintenance window straight from the per-worker caches.

During maintenance, thousands of waiting browsers poll `/maintenance/status`
and anonymous visitors keep requesting pages that are blocked. Both answers
change at most once a second, yet each would pay for a whole Flask request
(context, session, hooks). This WSGI layer answers them from the rendering
Flask made for the same window in the same second — the poll partial, or the
maintenance page in place with the gate's 503 headers — with a fresh
jittered poll delay, using the same pure `decide()` as the gate. Anything
else goes to Flask: a cache miss, a stale state, a signed-in user, a bearer
token, JSON or htmx clients, the end of a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .i18n import LANGUAGE_COOKIE, choose_language
from .maintenance.gate import decide
from .maintenance.state import ANONYMOUS, RequestFacts
from .maintenance.windows import utcnow, window_in_effect
from .services.bypass import COOKIE as BYPASS_COOKIE

STATUS_PATH = "/maintenance/status"
PARTIAL = "public/partials/status.html"
PAGE = "public/maintenance.html"
HTML = "text/html; charset=utf-8"


class MaintenanceFastPath:
    """Wrap a WSGI app; serve cache hits for status polls and anonymous blocks without Flask."""

    def __init__(self, wsgi_app: Callable, flask_app: Flask):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        config = flask_app.config
        # A request carrying any of these may be a bypasser: only Flask can tell.
        self.identity_cookies = tuple(
            f"{name}="
            for name in (config["SESSION_COOKIE_NAME"], config["REMEMBER_COOKIE_NAME"], BYPASS_COOKIE)
        )
        self.gate_on = config["MAINTENANCE_GATE"]
        self.extra_headers: list[tuple[str, str]] = []
        if config["EXPOSE_WORKER_HEADER"]:
            import os
            import socket

            self.extra_headers.append(("X-Pausa-Worker", f"{socket.gethostname()}:{os.getpid()}"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and "HTTP_HX_HISTORY_RESTORE_REQUEST" not in environ:
            if environ.get("PATH_INFO") == STATUS_PATH and environ.get("HTTP_HX_REQUEST") == "true":
                answer = self._status_poll(environ)
            elif self.gate_on:
                answer = self._anonymous_block(environ)
            else:
                answer = None  # MAINTENANCE_GATE=off: nothing is ever blocked
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                self._count(int(status[:3]))
                return [] if method == "HEAD" else [body]
        return self.wsgi_app(environ, start_response)

    def _fresh_window(self) -> tuple[Any, Any, Any] | None:
        from .gate import STATE_CACHE_KEY

        state = self.flask_app.extensions[STATE_CACHE_KEY].peek()
        if state is None:
            return None
        now = utcnow()
        window = window_in_effect(state, now)
        return (state, window, now) if window is not None else None

    def _rendered(self, environ: dict, template: str, window: Any, now: Any, **extra: bool) -> bytes | None:
        from .blueprints.public import RENDER_CACHE_KEY, fill_poll_delay, render_key

        language = choose_language(environ.get("HTTP_ACCEPT_LANGUAGE"), _cookie(environ, LANGUAGE_COOKIE))
        html = self.flask_app.extensions.get(RENDER_CACHE_KEY, {}).get(
            render_key(template, window, now, language, **extra)
        )
        if html is None:
            return None
        return fill_poll_delay(html, window, now, self.flask_app.config).encode()

    def _status_poll(self, environ: dict) -> tuple[str, list, bytes] | None:
        found = self._fresh_window()
        if found is None:
            return None  # the end of a window needs Flask (HX-Refresh); idle polls are rare
        _, window, now = found
        body = self._rendered(environ, PARTIAL, window, now)
        if body is None:
            return None
        headers = [("Content-Type", HTML), ("Content-Length", str(len(body))),
                   ("Cache-Control", "no-store"), ("Vary", "HX-Request, Accept-Language, Cookie")]
        return "200 OK", headers + self._security_headers(), body

    def _anonymous_block(self, environ: dict) -> tuple[str, list, bytes] | None:
        path = environ.get("PATH_INFO") or "/"
        cookies = environ.get("HTTP_COOKIE", "")
        if (
            "HTTP_AUTHORIZATION" in environ
            or "HTTP_HX_REQUEST" in environ
            or "json" in environ.get("HTTP_ACCEPT", "")
            or path == "/api" or path.startswith("/api/")
            or any(name in cookies for name in self.identity_cookies)
        ):
            return None
        found = self._fresh_window()
        if found is None:
            return None
        state, window, now = found
        decision = decide(
            RequestFacts(path=path, method=environ["REQUEST_METHOD"]),
            ANONYMOUS,
            environ.get("REMOTE_ADDR"),
            state,
            now,
            allowlist=self.flask_app.config["MAINTENANCE_ALLOWLIST"],
        )
        if not decision.blocked:
            return None
        body = self._rendered(environ, PAGE, decision.window, now, blocked_write=False)
        if body is None:
            return None
        from .gate import block_headers

        headers = [
            ("Content-Type", HTML),
            ("Content-Length", str(len(body))),
            ("Vary", "Accept, HX-Request, Accept-Language, Cookie"),
            *block_headers(decision.window, now),
        ]
        return "503 SERVICE UNAVAILABLE", headers + self._security_headers(), body

    def _security_headers(self) -> list[tuple[str, str]]:
        return [*self.flask_app.extensions["pausa.security_headers"], *self.extra_headers]

    def _count(self, status: int) -> None:
        metrics: Any = self.flask_app.extensions.get("pausa.metrics")
        if metrics is not None and hasattr(metrics, "count_fast"):
            metrics.count_fast(status)


def _cookie(environ: dict, name: str) -> str | None:
    """Read one cookie's value from the raw header, without parsing them all."""
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None
