"""Answer the floods of a maintenance window straight from the per-worker caches.

During maintenance, thousands of waiting browsers poll the status partial,
anonymous visitors keep requesting pages that are blocked, and a reverse proxy
asks the edge check about every request of the system behind it. Those answers
change at most once a second, yet each would pay for a whole Flask request
(context, session, hooks). This WSGI layer answers them from the state this
worker holds and the rendering Flask made for the same window in the same
second, with the same classification, decision and answers as Flask. Anything
else goes to Flask: a cache miss, a stale state, a signed-in user, a bearer
token, a JSON or htmx client of Pausa itself, the end of a window.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from pausa_gate import answers
from pausa_gate.answers import Answer
from pausa_gate.asking import ask_from_environ
from pausa_gate.cookies import COOKIE
from pausa_gate.decision import decide
from pausa_gate.state import ANONYMOUS, RequestFacts
from pausa_gate.windows import utcnow, window_in_effect
from werkzeug.http import HTTP_STATUS_CODES

from ..extensions import GATE_KEY, METRICS_KEY, SECURITY_HEADERS_KEY, STATE_CACHE_KEY
from . import edge
from .pages import PARTIAL

# The moment this layer saw the request, in its WSGI environ: app/metrics.py times the latency from there.
STARTED_KEY = "pausa.started"


class MaintenanceFastPath:
    """Wrap a WSGI app; serve what the caches already know without entering Flask."""

    def __init__(self, wsgi_app: Callable, flask_app: Flask):
        self.wsgi_app = wsgi_app
        self.flask_app = flask_app
        config = flask_app.config
        # A request to Pausa carrying any of these may be a bypasser: only Flask can tell.
        self.identity_cookies = (config["SESSION_COOKIE_NAME"], config["REMEMBER_COOKIE_NAME"], COOKIE)
        self.status_paths = frozenset({"/maintenance/status", config["GATE_PUBLIC_PREFIX"] + "/status"})
        self.gate_on = config["MAINTENANCE_GATE"]
        self.extra_headers: list[tuple[str, str]] = []
        if config["EXPOSE_WORKER_HEADER"]:
            self.extra_headers.append(("X-Pausa-Worker", f"{socket.gethostname()}:{os.getpid()}"))

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = environ[STARTED_KEY] = time.perf_counter()
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD"):
            path = environ.get("PATH_INFO")
            if path == edge.CHECK_PATH or path == edge.PAGE_PATH:
                answer = self._edge_check(environ, path)
            elif "HTTP_HX_HISTORY_RESTORE_REQUEST" in environ:
                answer = None  # the whole page, through Flask
            elif path in self.status_paths and environ.get("HTTP_HX_REQUEST") == "true":
                answer = self._status_poll(environ)
            elif self.gate_on:
                answer = self._anonymous_block(environ)
            else:
                answer = None  # MAINTENANCE_GATE=off: nothing is ever blocked
            if answer is not None:
                start_response(_status_line(answer.status), answer.headers)
                self._count(answer.status, started)
                return [] if method == "HEAD" else [answer.body]
        return self.wsgi_app(environ, start_response)

    def _state(self) -> Any:
        return self.flask_app.extensions[STATE_CACHE_KEY].peek()

    def _edge_check(self, environ: dict, path: str) -> Answer | None:
        state = self._state()
        if state is None:
            return None
        query = environ.get("QUERY_STRING", "")
        if query not in ("", "blocked=401"):
            return None  # Flask explains what it does not understand
        answer = edge.check(
            environ, state, utcnow(), self.flask_app.extensions[GATE_KEY], page=path == edge.PAGE_PATH,
            blocked_status=401 if query else 503, render=False,
        )
        if answer is None:
            return None
        if answer.body:  # a page, JSON or an explanation: it carries the security headers like Flask's
            return self._with_security(answer)
        return Answer(answer.status, [*answer.headers, ("Content-Length", "0"), *self.extra_headers])

    def _status_poll(self, environ: dict) -> Answer | None:
        state = self._state()
        now = utcnow()
        window = window_in_effect(state, now) if state is not None else None
        if window is None:
            return None  # the end of a window needs Flask (HX-Refresh); idle polls are rare
        gate = self.flask_app.extensions[GATE_KEY]
        language = answers.language_of(ask_from_environ(environ))
        html = gate.pages.get(PARTIAL, window, now, language, render=False)
        if html is None:
            return None
        headers = [("Content-Type", answers.HTML), ("Cache-Control", "no-store"),
                   ("Vary", "HX-Request, Accept-Language, Cookie")]
        return self._with_security(Answer(200, headers, html.encode()))

    def _anonymous_block(self, environ: dict) -> Answer | None:
        ask = ask_from_environ(environ)
        if ask.authorization or ask.htmx or ask.wants_json or ask.carries_any_cookie(self.identity_cookies):
            return None
        state = self._state()
        if state is None or not state.windows:
            return None
        now = utcnow()
        gate = self.flask_app.extensions[GATE_KEY]
        facts = RequestFacts(path=ask.path, method=ask.method)
        decision = decide(facts, ANONYMOUS, ask.client_ip, state, now, allowlist=gate.allowlist)
        if not decision.blocked:
            return None
        answer = answers.block(ask, decision, now, gate.pages, gate.status_url, render=False)
        return None if answer is None else self._with_security(answer)

    def _with_security(self, answer: Answer) -> Answer:
        headers = [*answer.headers, ("Content-Length", str(len(answer.body))),
                   *self.flask_app.extensions[SECURITY_HEADERS_KEY], *self.extra_headers]
        return Answer(answer.status, headers, answer.body)

    def _count(self, status: int, started: float) -> None:
        metrics: Any = self.flask_app.extensions.get(METRICS_KEY)
        if metrics is not None and hasattr(metrics, "count_fast"):
            metrics.count_fast(status, started=started)


def _status_line(status: int) -> str:
    return f"{status} {HTTP_STATUS_CODES[status].upper()}"
