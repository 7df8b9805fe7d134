"""The edge check reverse proxies ask about every request to the system they protect (docs/edge.md).

The fast path answers almost every check before Flask; this blueprint answers the
rest (a state to revalidate, a rendering to build) with the same function.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from ..gate import edge
from ..gate.inapp import gate, gate_state, response_for
from ..maintenance.windows import utcnow

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
