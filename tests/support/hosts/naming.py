"""Name the process that answered (X-Host-Worker: pid), outside the gate, so tests can see every worker."""

from __future__ import annotations

import os

HEADER = "X-Host-Worker"


def wsgi(app):
    """Wrap a WSGI app: every answer, the gate's included, names this process."""

    def named(environ, start_response):
        def start(status, headers, *rest):
            return start_response(status, [*headers, (HEADER, str(os.getpid()))], *rest)

        return app(environ, start)

    return named


def asgi(app):
    """Wrap an ASGI app the same way (HTTP answers only)."""

    async def named(scope, receive, send):
        async def start(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (HEADER.lower().encode(), str(os.getpid()).encode())]}
            await send(message)

        await app(scope, receive, start if scope["type"] == "http" else send)

    return named
