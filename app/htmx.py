"""A thin layer over flask-htmx: fragment-or-page rendering with the headers htmx needs."""

from __future__ import annotations

from typing import Any

from flask import Response, render_template
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
