"""Optional error tracking: report unhandled errors to Sentry when SENTRY_DSN is set.

The web app and the worker (`flask worker` builds the same app) both call
`init_error_tracking`. Pausa answers every error itself (app/errors.py logs it
with its traceback), so errors reach Sentry through the logging integration:
each log record at ERROR with an exception becomes one event, the Flask
integration adds the request (without cookies, headers' secrets or user data:
send_default_pii is off). No performance tracing is sent. Links carry their secret in the
path (set-password, bypass, unsubscribe, confirm) and forms carry passwords, so an event keeps
only the route's pattern (`/auth/set-password/<token>`), no query string and no body.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, has_request_context, request

log = logging.getLogger(__name__)


def init_error_tracking(app: Flask) -> bool:
    """Start the Sentry SDK when SENTRY_DSN is set; True if it started."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return False
    # local: start-up cost, paid only when SENTRY_DSN is set
    import sentry_sdk
    from sentry_sdk.integrations.flask import FlaskIntegration

    sentry_sdk.init(
        dsn=dsn,
        integrations=[FlaskIntegration()],
        environment=app.config["ENVIRONMENT"],
        release=app.config.get("SENTRY_RELEASE"),
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # a frame's locals may hold a password or a token
        before_send=scrub_request,
    )
    log.info("error tracking: sending unhandled errors to Sentry (%s)", app.config["ENVIRONMENT"])
    return True


def scrub_request(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Keep the route's pattern instead of the path, and no query string or body (secrets ride there)."""
    if not has_request_context():
        return event
    rule = request.url_rule.rule if request.url_rule is not None else "<unrouted>"
    described = event.get("request")
    if isinstance(described, dict):
        if described.get("url"):
            parts = urlsplit(described["url"])
            described["url"] = urlunsplit((parts.scheme, parts.netloc, rule, "", ""))
        for key in ("query_string", "data", "cookies"):
            described.pop(key, None)
    # app/errors.py logs the path: the event's message names the route instead.
    entry = event.get("logentry")
    if isinstance(entry, dict) and request.path != rule:
        if isinstance(entry.get("formatted"), str):
            entry["formatted"] = entry["formatted"].replace(request.path, rule)
        if isinstance(entry.get("params"), list):
            entry["params"] = [rule if param == request.path else param for param in entry["params"]]
    return event
