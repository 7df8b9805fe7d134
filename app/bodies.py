"""Read request bodies whole, or refuse them with 413 when they exceed MAX_CONTENT_LENGTH."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge


def read_body() -> bytes:
    """Return the request's body; raise 413 when a chunked body (no Content-Length) is too long.

    Werkzeug stops reading a chunked body at MAX_CONTENT_LENGTH and hands back the first
    part as if it were all: a signed webhook would then fail its signature and be retried
    for days. A body with a Content-Length over the limit is refused by Werkzeug itself.
    """
    payload = request.get_data(cache=True)
    limit = request.max_content_length
    if (
        limit is not None
        and request.content_length is None
        and len(payload) >= limit
        and request.environ.get("wsgi.input_terminated")
        # One more byte from the server's own stream tells a body of exactly the limit from a longer one.
        and request.environ["wsgi.input"].read(1)
    ):
        raise RequestEntityTooLarge()
    return payload
