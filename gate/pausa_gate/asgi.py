"""PausaGateASGI: Pausa's gate inside any ASGI app (Starlette, FastAPI, Django's ASGI handler).

    app.add_middleware(PausaGateASGI, viewer=lambda scope: scope["session"].get("role"))

The same decision, page, headers, JSON and /_pausa/ proxy as the WSGI gate
(wsgi.py). HTTP requests and websocket handshakes are decided; a blocked
websocket is closed with 1013 ("try again later"). Lifespan events pass through.
The feed is followed by a thread, started off the event loop; the proxy's
blocking exchange with Pausa runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote

from .answers import Answer
from .proxy import MAX_BODY, Visit, too_large
from .wsgi import PATH_SAFE, EmbeddedGate, headers_with_length, under_prefix

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TRY_AGAIN_LATER = 1013  # RFC 6455's registry: the server is overloaded or unavailable for now
CLOSE_REASON = "Maintenance in progress: try again later."


class PausaGateASGI:
    """ASGI middleware: block what Pausa's state blocks, pass the rest to `app`, serve /_pausa/ from Pausa.

    Takes the same settings as `pausa_gate.PausaGate`; `viewer(scope)` gets the ASGI scope
    (put the gate inside the app's session middleware to read `scope["session"]`).
    """

    def __init__(
        self, app: Callable, url: str | None = None, token: str | None = None,
        viewer: Callable[[Scope], Any] | None = None, state_file: str | os.PathLike[str] | None = None,
        fail_mode: str | None = None, **options: float,
    ):
        self.app = app
        self.gate = EmbeddedGate(url, token, viewer, state_file, fail_mode, **options)
        self.follower = self.gate.follower

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        follower = self.follower
        if not follower.started:
            # The first request of a process may wait for the feed's first answer: never on the loop.
            await asyncio.to_thread(follower.start)
        feed = follower.feed
        path = path_of(scope)
        # The hot path: no window known and not Pausa's prefix, so the app answers at once.
        if not feed.state.windows and not path.startswith(feed.prefix):
            await self.app(scope, receive, send)
            return
        public = under_prefix(path, feed.prefix) if kind == "http" else None
        if public is not None:
            await self.forward(scope, receive, send, public)
            return
        answer = self.gate.answer(environ_of(scope, path), feed, scope)
        if answer is None:
            await self.app(scope, receive, send)
        elif kind == "websocket":
            await refuse_websocket(receive, send)
        else:
            await send_answer(send, answer, head=scope.get("method") == "HEAD")

    async def forward(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Send a request under the public prefix to Pausa and its answer back to the visitor."""
        body = await read_body(receive)
        if body is None:
            await send_answer(send, too_large())
            return
        answer = await asyncio.to_thread(self.gate.proxy.forward, visit_from_scope(scope, path, body))
        await send_answer(send, answer)


def path_of(scope: Scope) -> str:
    """Return the path the app routes on (without the root path a server mounts it under)."""
    path = scope.get("path") or "/"
    root = scope.get("root_path") or ""
    if root and path.startswith(root):
        path = path[len(root):] or "/"
    return path


def environ_of(scope: Scope, path: str) -> dict[str, Any]:
    """Describe an ASGI request with the WSGI keys the gate's classification reads."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method", "GET"),
        "PATH_INFO": path,
        "RAW_URI": path,
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = client[0]
    for name, value in scope.get("headers", ()):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        text = value.decode("latin-1")
        if key in environ:
            # Repeated headers read as one list, as WSGI servers join them; cookies (split by HTTP/2) by "; ".
            text = environ[key] + ("; " if key == "HTTP_COOKIE" else ", ") + text
        environ[key] = text
    return environ


async def read_body(receive: Receive) -> bytes | None:
    """Read the visitor's whole body, at most MAX_BODY bytes; None when it is larger."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def visit_from_scope(scope: Scope, path: str, body: bytes) -> Visit:
    """Describe an ASGI request for the proxy."""
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope.get("headers", ())]
    host = next((value for name, value in headers if name.lower() == "host"), None)
    target = quote(path, safe=PATH_SAFE)
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    return Visit(
        method=scope.get("method", "GET").upper(),
        target=f"{target}?{query}" if query else target,
        headers=headers,
        body=body,
        client_ip=client[0] if client else None,
        scheme=scope.get("scheme", "http"),
        host=host,
    )


async def send_answer(send: Send, answer: Answer, *, head: bool = False) -> None:
    await send({
        "type": "http.response.start",
        "status": answer.status,
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1"))
                    for name, value in headers_with_length(answer)],
    })
    await send({"type": "http.response.body", "body": b"" if head else answer.body})


async def refuse_websocket(receive: Receive, send: Send) -> None:
    """Close a blocked websocket with 1013: accepted first, since a refused handshake carries no code."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": CLOSE_REASON})
