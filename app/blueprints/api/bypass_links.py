"""The admin API's bypass links: POST makes one (its URL is in the answer, once), GET lists the live ones,
DELETE revokes one."""

from __future__ import annotations

from flask import Response, g, jsonify

from ...inputs import MAX_DATABASE_ID
from ...maintenance.validation import ValidationError
from ...ratelimits import bypass_link_limit
from ...services import ServiceError
from ...services import bypass as bypass_service
from .common import bp, json_body


@bp.get("/maintenance/bypass-links")
def bypass_links() -> Response:
    return jsonify(links=[bypass_service.link_json(link) for link in bypass_service.live_links()])


@bp.post("/maintenance/bypass-links")
@bypass_link_limit
def bypass_link_create() -> Response:
    """Body (optional): {"expires": "2h", "window_id": 7}; default: 12 h, the active or next window."""
    body = json_body()
    fields: dict[str, str] = {
        name: "Unknown field." for name in body if name not in ("expires", "window_id")
    }
    expires, window_id = body.get("expires"), body.get("window_id")
    if expires is not None:
        try:
            bypass_service.parse_expiry(expires if isinstance(expires, str) else "")
        except ServiceError as exc:
            fields["expires"] = exc.message
    if window_id is not None and (
        not isinstance(window_id, int) or isinstance(window_id, bool)
        or not 1 <= window_id <= MAX_DATABASE_ID
    ):
        fields["window_id"] = "A window id is a number."
    if fields:
        raise ValidationError(fields)
    link, raw = bypass_service.create_link(g.actor, expires, window_id)
    response = jsonify(url=bypass_service.link_url(raw), **bypass_service.link_json(link))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.delete("/maintenance/bypass-links/<int:link_id>")
def bypass_link_revoke(link_id: int) -> Response:
    return jsonify(bypass_service.link_json(bypass_service.revoke_link(link_id, g.actor)))
