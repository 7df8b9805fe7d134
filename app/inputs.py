"""Read request input safely: bodies within MAX_CONTENT_LENGTH, ids the database can hold, email addresses."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from .services import ServiceError

# The largest id of an INTEGER column: a bigger one makes PostgreSQL fail the query, so it
# can name no row (docs/errors.md).
MAX_DATABASE_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """The `<int:...>` of every route: a number beyond any row's id is a 404, not a failed query."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002 - werkzeug's own parameter name
        kwargs.setdefault("max", MAX_DATABASE_ID)
        super().__init__(map, *args, **kwargs)


def database_id(text: str) -> int:
    """Read an id from a query string or form (for `request.args.get(..., type=database_id)`)."""
    value = int(text)
    if not 1 <= value <= MAX_DATABASE_ID:
        raise ValueError("not an id")
    return value


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


def normalise_email(email: str) -> str:
    """Validate an address (syntax only, no DNS) and return its normalised form."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise ServiceError(str(error)) from None
