"""PausaGate: Pausa's gate inside any WSGI app (Flask, Django, Pyramid, Bottle...).

    app.wsgi_app = PausaGate(app.wsgi_app, viewer=role_of)   # PAUSA_URL, PAUSA_TOKEN from the environment

Each request is decided from the feed a background thread follows (follower.py),
with the same pure decision, page, headers and JSON as Pausa's own gate and its
edge check. Requests under the public prefix (/_pausa/...) go to Pausa (proxy.py).
With no window known, a request costs a few attribute reads before the app.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from . import answers
from .answers import Answer
from .asking import ask_from_environ
from .decision import decide_ask
from .feed import Feed
from .follower import Follower
from .paths import is_under, normalise_path
from .proxy import MAX_BODY, Proxy, Visit, too_large
from .state import ANONYMOUS, Viewer
from .windows import utcnow

log = logging.getLogger("pausa_gate")

# What a path needs to keep its meaning in a request line; "%" is not here: a decoded "%" is sent as %25.
PATH_SAFE = "/:@!$&'()*+,;=-._~"


class ConfigurationError(RuntimeError):
    """The gate cannot follow Pausa: its address or token is missing or wrong."""


def settings(
    url: str | None, token: str | None, state_file: str | os.PathLike[str] | None, fail_mode: str | None
) -> tuple[str, str, str | os.PathLike[str] | None, str]:
    """Fill what the host app did not pass from the environment; refuse what is missing or wrong."""
    url = url or os.environ.get("PAUSA_URL", "").strip()
    token = token or os.environ.get("PAUSA_TOKEN", "").strip()
    state_file = state_file or os.environ.get("PAUSA_STATE_FILE", "").strip() or None
    fail_mode = fail_mode or os.environ.get("PAUSA_FAIL_MODE", "").strip() or "closed"
    missing = [name for name, value in (("PAUSA_URL", url), ("PAUSA_TOKEN", token)) if not value]
    if missing:
        raise ConfigurationError(
            f"pausa-gate needs {' and '.join(missing)}: pass url= and token= or set them in the environment "
            "(a token with the 'gate' scope: flask tokens create NAME --scope gate)."
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"PAUSA_URL must start with http:// or https://, not {url!r}.")
    if fail_mode not in ("closed", "open"):
        raise ConfigurationError(f"PAUSA_FAIL_MODE must be 'closed' or 'open', not {fail_mode!r}.")
    return url, token, state_file, fail_mode


class EmbeddedGate:
    """What the WSGI and the ASGI gate share: the follower, the proxy and the decision."""

    def __init__(
        self, url: str | None = None, token: str | None = None, viewer: Callable[[Any], Any] | None = None,
        state_file: str | os.PathLike[str] | None = None, fail_mode: str | None = None, *,
        timeout: float = 5.0, boot_wait: float = 2.0, proxy_timeout: float = 10.0,
    ):
        url, token, state_file, fail_mode = settings(url, token, state_file, fail_mode)
        self.follower = Follower(url, token, state_file, fail_mode, timeout, boot_wait=boot_wait)
        self.proxy = Proxy(url, timeout=proxy_timeout)
        self.viewer = viewer
        self._viewer_failed = False
        self._lock = threading.Lock()

    def answer(self, environ: dict, feed: Feed, who: Any) -> Answer | None:
        """Return the block answer for this request, or None to let it through.

        As at the edge, only the host app's allowlist and the public prefix pass whatever
        a window says; then bypass-link cookies and the host app's own roles (`viewer`).
        """
        ask = ask_from_environ(environ)
        now = utcnow()
        decision = decide_ask(ask, feed.state, now, allowlist=feed.allowlist, always_allowed=(),
                              viewer=lambda: self.viewer_of(who))
        if not decision.blocked:
            return None
        return answers.block(ask, decision, now, feed.pages, feed.status_url)

    def viewer_of(self, who: Any) -> Viewer:
        """Ask the host app who this is; a viewer that fails or says nothing means anonymous."""
        if self.viewer is None:
            return ANONYMOUS
        try:
            found = self.viewer(who)
        except Exception:  # the host app's code: its failure must not become ours, nor let anyone through
            with self._lock:
                first, self._viewer_failed = not self._viewer_failed, True
            if first:
                log.exception("pausa-gate: viewer() raised; the request is decided as anonymous")
            return ANONYMOUS
        if found is None or isinstance(found, Viewer):
            return found or ANONYMOUS
        if isinstance(found, str):  # a role's name is the common case: accept it as it is
            return Viewer(role=found)
        role = getattr(found, "role", None)
        return Viewer(role=role) if isinstance(role, str) else ANONYMOUS


def under_prefix(path: str, prefix: str) -> str | None:
    """Return the normalised path when it is under the public prefix, else None."""
    normalised = normalise_path(path)
    return normalised if is_under(normalised, prefix) else None


def headers_with_length(answer: Answer) -> list[tuple[str, str]]:
    """Return the answer's headers with its Content-Length, so the connection can be kept alive."""
    if any(name.lower() == "content-length" for name, _ in answer.headers):
        return answer.headers
    return [*answer.headers, ("Content-Length", str(len(answer.body)))]


def status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


class PausaGate:
    """WSGI middleware: block what Pausa's state blocks, pass the rest to `app`, serve /_pausa/ from Pausa.

    `url` and `token` default to PAUSA_URL and PAUSA_TOKEN (a token with the `gate` scope),
    `state_file` to PAUSA_STATE_FILE (the last feed, read when the process starts, so a
    restart while Pausa is down enforces it at once) and `fail_mode` to PAUSA_FAIL_MODE
    (`closed`, the default: a generic 503 page while nothing at all is known; `open`: let
    requests through). `viewer(environ)` returns the visitor's role in the host app (a
    string, a `Viewer`, or None when anonymous), so its own staff pass as the window allows;
    it is asked only about requests a window blocks. Options: `timeout` (seconds a silent
    Pausa is waited for beyond the long poll, 5), `boot_wait` (how long the first request of
    a process that knows nothing waits for the feed, 2) and `proxy_timeout` (each read of
    a /_pausa/ request forwarded to Pausa, 10).
    """

    def __init__(
        self, app: Callable, url: str | None = None, token: str | None = None,
        viewer: Callable[[dict], Any] | None = None, state_file: str | os.PathLike[str] | None = None,
        fail_mode: str | None = None, **options: float,
    ):
        self.app = app
        self.gate = EmbeddedGate(url, token, viewer, state_file, fail_mode, **options)
        self.follower = self.gate.follower

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        follower = self.follower
        if not follower.started:
            follower.start()
        feed = follower.feed
        path = environ.get("PATH_INFO") or "/"
        # The hot path: no window known and not Pausa's prefix, so the app answers at once.
        if not feed.state.windows and not path.startswith(feed.prefix):
            return self.app(environ, start_response)
        public = under_prefix(path, feed.prefix)
        if public is not None:
            answer = self.forward(environ, public)
        else:
            answer = self.gate.answer(environ, feed, environ)
            if answer is None:
                return self.app(environ, start_response)
        start_response(status_line(answer.status), headers_with_length(answer))
        return [answer.body]

    def forward(self, environ: dict, path: str) -> Answer:
        """Send a request under the public prefix to Pausa; return its answer."""
        try:
            body = read_body(environ)
        except ValueError:
            return too_large()
        return self.gate.proxy.forward(visit_from_environ(environ, path, body))


def read_body(environ: dict) -> bytes:
    """Read the visitor's body, at most MAX_BODY bytes; ValueError when it is larger."""
    length_text = environ.get("CONTENT_LENGTH") or ""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length_text.strip():
        try:
            length = int(length_text)
        except ValueError:
            raise ValueError("not a Content-Length") from None
        if length > MAX_BODY:
            raise ValueError("too large")
        return stream.read(length) if length > 0 else b""
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = stream.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise ValueError("too large")
        return body
    return b""


def visit_from_environ(environ: dict, path: str, body: bytes) -> Visit:
    """Describe a WSGI request for the proxy."""
    headers = [(key[5:].replace("_", "-").title(), value) for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, str)]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    # PEP 3333 hands the path over as latin-1 text of the bytes the visitor sent.
    target = quote(path.encode("latin-1", "replace"), safe=PATH_SAFE)
    query = environ.get("QUERY_STRING")
    return Visit(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        target=f"{target}?{query}" if query else target,
        headers=headers,
        body=body,
        client_ip=environ.get("REMOTE_ADDR"),
        scheme=environ.get("wsgi.url_scheme", "http"),
        host=environ.get("HTTP_HOST") or environ.get("SERVER_NAME"),
    )
