"""The edge check: answer a reverse proxy asking whether a request to another system may pass.

nginx (`auth_request`), Caddy (`forward_auth`) and Traefik (ForwardAuth) describe
the visitor's request in forwarded headers; the answer is 200 with an empty body
to let it through, or exactly what Pausa's own gate answers a blocked request.
Through the edge only the protected system's allowlist and Pausa's public prefix
pass whatever a window says: Pausa's own always-allowed paths (/admin, /health…)
belong to Pausa, not to the system behind the proxy. See docs/edge.md.
"""

from __future__ import annotations

from datetime import datetime

from pausa_gate import answers
from pausa_gate.answers import Answer
from pausa_gate.asking import Ask, NotDescribed, forwarded_asks
from pausa_gate.decision import Decision, decide_ask, seconds_everyone_passes
from pausa_gate.state import GateState

CHECK_PATH = "/gate/check"
PAGE_PATH = "/gate/page"
# "Everyone passes" is reusable by a proxy only while it holds for a while yet (seconds).
ALLOW_ALL_SECONDS = 1


def decide_at_edge(asks: tuple[Ask, ...], state: GateState, now: datetime, gate) -> tuple[Ask, Decision]:
    """Decide every description of the request; the first block wins, else the first allow."""
    allowed: tuple[Ask, Decision] | None = None
    for ask in asks:
        # No viewer: roles and tokens are the protected system's business (the embedded gate's
        # to know); only a bypass link's cookie can let a visitor through.
        decision = decide_ask(ask, state, now, allowlist=gate.edge_allowlist, always_allowed=())
        if decision.blocked:
            return ask, decision
        allowed = allowed or (ask, decision)
    assert allowed is not None  # forwarded_asks never returns an empty tuple
    return allowed


def check(
    environ: dict, state: GateState, now: datetime, gate, *, page: bool = False, blocked_status: int = 503,
    render: bool = True,
) -> Answer | None:
    """Answer the proxy; None when `render` is False and the page is not rendered yet.

    `blocked_status=401` answers a block with an empty 401 (nginx's `auth_request` only
    understands 2xx, 401 and 403); `page=True` is nginx's follow-up for that 401: the
    whole block answer, or a 307 back to the request when it is allowed by now.
    """
    try:
        asks = forwarded_asks(environ, gate.trusted_proxies)
    except NotDescribed as error:
        return Answer(400, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")],
                      str(error).encode())
    ask, decision = decide_at_edge(asks, state, now, gate)
    if not decision.blocked:
        if page:
            return Answer(307, [("Location", retry_location(ask.uri)), ("Cache-Control", "no-store")])
        if seconds_everyone_passes(state, now) > 2 * ALLOW_ALL_SECONDS:
            # Every request is allowed for a while: a proxy may reuse this answer for any request,
            # until the end of this second. nginx counts whole seconds: a relative "1" could keep
            # it up to two seconds; an absolute time ends it with the current second.
            until = f"@{int(now.timestamp())}"
            return Answer(200, [("X-Accel-Expires", until), ("Cache-Control", "no-store")])
        return Answer(200, [("Cache-Control", "no-store")])
    if blocked_status == 401 and not page:
        return Answer(401, [("Cache-Control", "no-store"), ("X-Maintenance", "active")])
    return answers.block(ask, decision, now, gate.pages, gate.edge_status_url, render=render)


def retry_location(uri: str) -> str:
    """Return where a visitor retries: the request's own path on the same site, never elsewhere."""
    if not uri.startswith("/") or uri.startswith(("//", "/\\")) or "\r" in uri or "\n" in uri:
        return "/"
    return uri
