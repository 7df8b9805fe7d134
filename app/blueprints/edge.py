"""What other systems' gates ask Pausa: the edge check (docs/edge.md) and the state feed (docs/embedded.md).

The fast path answers almost every check before Flask; this blueprint answers the
rest (a state to revalidate, a rendering to build) with the same function, and the
state feed host apps follow.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, abort, current_app, jsonify, request
from pausa_gate.windows import utcnow

from ..extensions import FEED_KEY
from ..gate import edge
from ..gate.feed import FeedCache
from ..gate.inapp import bearer_token, gate, gate_state, response_for
from ..ratelimits import TokenAttemptsExceeded
from ..services import tokens as token_service

bp = Blueprint("edge", __name__, url_prefix="/gate")


@bp.route("/check", methods=["GET", "HEAD"])
def check() -> Response:
    """Let the described request through (200, empty) or answer it as Pausa's gate would."""
    blocked = request.args.get("blocked")
    if blocked not in (None, "401"):
        abort(400, description="blocked= takes only 401 (for nginx's auth_request).")
    status = 401 if blocked else 503
    return response_for(edge.check(request.environ, gate_state(), utcnow(), gate(), blocked_status=status))


@bp.route("/page", methods=["GET", "HEAD"])
def page() -> Response:
    """Give nginx the whole block answer after its 401, or send the visitor back when allowed by now."""
    return response_for(edge.check(request.environ, gate_state(), utcnow(), gate(), page=True))


MAX_WAIT = 30  # seconds a follower may be held waiting for the next state


def _refused(status: int, code: str, message: str) -> Response:
    response = jsonify(error=code, message=message)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pausa"'
    return response


@bp.get("/state")
def state() -> Response:
    """Give a host app's gate the state feed: ETag, 304, and a bounded long-poll (`?wait=SECONDS`)."""
    try:
        token = token_service.authenticate(bearer_token())
    except TokenAttemptsExceeded as limited:
        response = _refused(429, "rate_limited", limited.description)
        response.headers["Retry-After"] = str(limited.retry_after)
        return response
    if token is None:
        return _refused(401, "unauthorized", "Send Authorization: Bearer <a token with the gate scope>.")
    if "gate" not in token.scope_set:
        return _refused(403, "forbidden", "This token has no gate scope.")
    raw_wait = request.args.get("wait", "0")
    if not raw_wait.isdigit() or int(raw_wait) > MAX_WAIT:
        return _refused(400, "validation", f"wait is a whole number of seconds, at most {MAX_WAIT}.")
    feeds: FeedCache = current_app.extensions[FEED_KEY]
    body, etag = feeds.for_state(gate_state())
    known = request.headers.get("If-None-Match")
    retry_after = None
    if int(raw_wait) and known == etag:
        if feeds.waiters.acquire(blocking=False):
            try:
                deadline = time.monotonic() + int(raw_wait)
                while etag == known and time.monotonic() < deadline:
                    time.sleep(0.1)  # the state is in memory: looking costs nothing
                    body, etag = feeds.for_state(gate_state())
            finally:
                feeds.waiters.release()
        else:
            retry_after = "1"  # enough followers wait on this worker: come back in a second
    response = Response(status=304) if known == etag else Response(body, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = "no-cache, private"
    if retry_after:
        response.headers["Retry-After"] = retry_after
    return response
