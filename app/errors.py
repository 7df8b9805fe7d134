"""Answer every error with a page or JSON in the visitor's language, never a stack trace."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .extensions import db
from .gate.inapp import wants_json


def register_errorhandlers(app: Flask) -> None:
    """Answer every error with a page or JSON, never a stack trace."""

    def respond(status: int, code: str, message: str) -> Response:
        if wants_json():
            response = jsonify(error=code, message=message)
            response.status_code = status
        else:
            # Straight from Jinja, without context processors: they would load the
            # signed-in user, which fails again when the error is a database outage.
            page = app.jinja_env.get_template("errors/error.html")
            response = Response(page.render(status=status, message=message), status=status)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> Response:
        return respond(
            400, "csrf", _("The form expired or was not sent from this site. Reload the page and try again.")
        )

    @app.errorhandler(429)
    def too_many(error: HTTPException) -> Response:
        response = respond(429, "rate_limited", _("Too many attempts. Wait a minute and try again."))
        retry_after = getattr(error, "retry_after", None)
        response.headers["Retry-After"] = str(int(retry_after)) if retry_after else "60"
        return response

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError) -> Response:
        db.session.rollback()
        app.logger.error("database unavailable: %s", error)
        response = respond(
            503, "unavailable", _("The service is temporarily unavailable. Try again in a minute.")
        )
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = error.name.lower().replace(" ", "_")
        message = error.description or error.name
        if message == type(error).description:  # Werkzeug's English default: say it in the UI's language
            message = default_error_message(error.code or 500, message)
        return respond(error.code or 500, code, message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return respond(500, "internal", _("Something went wrong on our side. It has been logged."))


def default_error_message(status: int, fallback: str) -> str:
    """Return a translated explanation for the common HTTP errors raised without a description of ours."""
    messages = {
        400: _("The request could not be understood. Check what you sent and try again."),
        401: _("Please sign in to see that page."),
        403: _("You are not allowed to see that page."),
        404: _("There is no page at this address. Check the link or start from the home page."),
        405: _("This page does not accept that kind of request."),
        413: _("What you sent is too large."),
    }
    return messages.get(status, fallback)
