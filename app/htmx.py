"""A thin layer over flask-htmx: page-or-fragment answers (forms too) with the headers htmx needs."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template, request
from flask_babel import gettext
from flask_htmx import make_response as _htmx_response

from .extensions import htmx


def is_fragment_request() -> bool:
    """Tell whether to answer with a fragment: an htmx request that is not a history restore.

    A history restore (the user pressed Back and the cache missed) wants the
    whole page, so it is treated like a normal navigation.
    """
    return bool(htmx) and not htmx.history_restore_request


def vary(response: Response) -> Response:
    """Mark a response as depending on HX-Request so caches keep both forms apart."""
    response.vary.add("HX-Request")
    return response


def render(page: str, partial: str, status: int = 200, **context: Any) -> Response:
    """Render the partial for htmx requests and the full page otherwise."""
    template = partial if is_fragment_request() else page
    response = Response(render_template(template, **context), status=status)
    return vary(response)


def form_answer(page: str, partial: str, status: int = 200, **context: Any) -> Response:
    """Answer a form post like `render`, never cached: the answer may show the address that was sent."""
    response = render(page, partial, status=status, **context)
    response.headers["Cache-Control"] = "no-store"
    return response


def too_many_tries(
    page: str, partial: str, error: Exception, *, error_name: str, email_name: str, **context: Any
) -> Response:
    """Answer a rate-limited email form where the form is, in its own words, saying when to retry.

    The form comes back with the address typed (`email_name`) and the message (`error_name`);
    Retry-After is the limiter's wait, else a minute.
    """
    context[error_name] = gettext(
        "That was a lot of tries in a short time. Please wait a minute and try again."
    )
    context[email_name] = request.form.get("email", "")[:254]
    response = form_answer(page, partial, 429, **context)
    retry_after = getattr(error, "retry_after", None)
    response.headers["Retry-After"] = str(int(retry_after)) if retry_after else "60"
    return response


def refresh(status: int = 200, body: str = "") -> Response:
    """Make htmx reload the whole page (it acts on HX-Refresh whatever the status)."""
    response = _htmx_response(body, refresh=True)
    response.status_code = status
    return vary(response)


def redirect(location: str, status: int = 200) -> Response:
    """Make htmx navigate to `location` (used instead of a 302 that would be swapped in)."""
    response = _htmx_response("", redirect=location)
    response.status_code = status
    return vary(response)
