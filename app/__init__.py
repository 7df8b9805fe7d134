"""Pausa: put a production system into maintenance safely and tell everyone what is going on."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import Config, TestConfig


def create_app(test_config: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Create a Pausa app: production/development settings, or the test ones plus overrides."""
    app = Flask(
        __name__,
        template_folder="../templates",
        static_folder="../static",
        instance_path=instance_path,
        instance_relative_config=True,
    )
    if test_config is None:
        app.config.from_object(Config)
    else:
        app.config.from_object(TestConfig)
        app.config.from_mapping(test_config)
    configure_secret_key(app)
    configure_logging(app)
    check_config(app)
    register_extensions(app)
    from .inputs import DatabaseIdConverter

    app.url_map.converters["int"] = DatabaseIdConverter  # before the routes that use it
    register_blueprints(app)
    register_wsgi_layers(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    register_diagnostics(app)
    from .services.alerts import register_hooks as register_alert_hooks

    register_alert_hooks()  # admin alerts on window transitions
    from .services.webhooks import register_hooks as register_webhook_hooks

    register_webhook_hooks()  # outbound webhooks on window transitions
    from .metrics import register_metrics

    register_metrics(app)
    return app


def register_wsgi_layers(app: Flask) -> None:
    """Wrap the app: the maintenance fast path, then ProxyFix outermost so both see the client IP."""
    from .gate.fastpath import MaintenanceFastPath

    app.wsgi_app = MaintenanceFastPath(app.wsgi_app, app)
    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def configure_secret_key(app: Flask) -> None:
    """Refuse to run in production without SECRET_KEY; elsewhere keep one in instance/."""
    if app.config.get("SECRET_KEY"):
        return
    if app.config["ENVIRONMENT"] == "production":
        raise RuntimeError("SECRET_KEY must be set when PAUSA_ENV=production.")
    key_file = Path(app.instance_path) / "secret_key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def configure_logging(app: Flask) -> None:
    if not app.debug and not app.testing:
        logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(levelname)s %(name)s: %(message)s")
    # Alembic announces each of its plugins at INFO on every command; scripts parse our output.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


# Empty, or path segments of unreserved characters: never "//host", a query or a trailing slash.
SCRIPT_NAME_FORMAT = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def check_config(app: Flask) -> None:
    """Refuse settings that would silently switch maintenance off for everyone."""
    from pausa_gate.paths import normalise_path

    if any(normalise_path(prefix) == "/" for prefix in app.config["MAINTENANCE_ALLOWLIST"]):
        raise RuntimeError("MAINTENANCE_ALLOWLIST must not contain '/': it would allow every path.")
    if app.config["MAINTENANCE_FAIL_MODE"] not in ("closed", "open"):
        raise RuntimeError("MAINTENANCE_FAIL_MODE must be 'closed' or 'open'.")
    if app.config["MAINTENANCE_STATE_REFRESH"] not in ("background", "inline"):
        raise RuntimeError("MAINTENANCE_STATE_REFRESH must be 'background' or 'inline'.")
    if not SCRIPT_NAME_FORMAT.fullmatch(app.config["SCRIPT_NAME"]):
        raise RuntimeError(
            "SCRIPT_NAME must be empty or a path like /status (no trailing slash, no host)."
        )
    prefix = app.config["GATE_PUBLIC_PREFIX"]
    if not prefix or not SCRIPT_NAME_FORMAT.fullmatch(prefix):
        raise RuntimeError("GATE_PUBLIC_PREFIX must be a path like /_pausa (no trailing slash, no host).")
    from pausa_gate.asking import parse_networks

    parse_networks(app.config["GATE_TRUSTED_PROXIES"])  # a ValueError names the entry
    if app.config.get("PLANNED_WINDOW"):
        from .maintenance.planned import parse_planned

        parse_planned(app.config["PLANNED_WINDOW"])  # a ValueError names the expected format
    check_mail_config(app.config)
    if app.config["ENVIRONMENT"] == "production":
        check_webhook_config(app.config)


def check_mail_config(config: Mapping[str, Any]) -> None:
    """Refuse a mail setup that would pretend to send: production sends through SendGrid or not at all.

    See docs/production.md for what each choice means.
    """
    from .mail import BACKENDS

    backend = config.get("MAIL_BACKEND")
    if backend not in BACKENDS:
        raise RuntimeError(f"MAIL_BACKEND={backend!r} is unknown; choose one of: {', '.join(BACKENDS)}.")
    if config["ENVIRONMENT"] != "production":
        return
    if backend in ("console", "memory"):
        raise RuntimeError(
            f"MAIL_BACKEND={backend} is refused when PAUSA_ENV=production: emails would be logged or kept "
            "in memory and marked sent. Set SENDGRID_API_KEY (MAIL_BACKEND=sendgrid), or "
            "MAIL_BACKEND=disabled to run without email."
        )
    if backend == "sendgrid" and not config.get("SENDGRID_API_KEY"):
        raise RuntimeError("MAIL_BACKEND=sendgrid needs SENDGRID_API_KEY (or set MAIL_BACKEND=disabled).")
    if backend == "disabled" and config.get("ADMIN_ALERT_EMAILS"):
        raise RuntimeError(
            "ADMIN_ALERT_EMAILS is set but MAIL_BACKEND=disabled: admin alerts would never be emailed. "
            "Unset ADMIN_ALERT_EMAILS or configure SENDGRID_API_KEY."
        )


def check_webhook_config(config: Mapping[str, Any]) -> None:
    """Refuse webhook secrets that cannot sign or verify anything (production only)."""
    from .maintenance.signatures import SignatureError, standard_key

    if config.get("OUTBOUND_WEBHOOK_URLS") and not config.get("OUTBOUND_WEBHOOK_SECRET"):
        raise RuntimeError(
            "OUTBOUND_WEBHOOK_URLS is set but OUTBOUND_WEBHOOK_SECRET is not: outbound webhooks are never "
            "sent unsigned. Set OUTBOUND_WEBHOOK_SECRET (whsec_<base64 key>) or unset OUTBOUND_WEBHOOK_URLS."
        )
    named = [("OUTBOUND_WEBHOOK_SECRET", config.get("OUTBOUND_WEBHOOK_SECRET"))]
    named += [("STANDARD_WEBHOOK_SECRETS", secret) for secret in config.get("STANDARD_WEBHOOK_SECRETS") or ()]
    for name, secret in named:
        if not secret:
            continue
        try:
            standard_key(secret)
        except SignatureError:
            raise RuntimeError(f"{name} holds a secret that is not whsec_<base64 key>.") from None


def register_extensions(app: Flask) -> None:
    from .database import bound_connections, bound_engine_options
    from .extensions import babel, csrf, db, htmx, limiter, login_manager, migrate
    from .i18n import init_i18n, select_locale

    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite:///") and "/instance/" in uri:
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    bound_engine_options(app)
    db.init_app(app)
    with app.app_context():
        bound_connections(app, db.engine)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    csrf.init_app(app)
    limiter.init_app(app)
    # Pausa sets only per-route limits, and their decorators check them themselves;
    # the extension's app-wide hook would cost every request (and the gate's budget) for nothing.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    htmx.init_app(app)
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(Path(app.root_path).parent / "translations"),
    )
    init_i18n(app)
    if uri.startswith("sqlite"):
        with app.app_context():
            event.listen(db.engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(connection: Any, record: Any) -> None:
    """Let readers and one writer work side by side, and wait for locks instead of failing."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def register_blueprints(app: Flask) -> None:
    from .blueprints import admin, analytics, api, audit, auth, bypass, edge, health, public, site, webhooks
    from .extensions import csrf
    from .gate import inapp as gate
    from .security import register_security_headers

    for module in (auth, admin, api, public, audit, analytics, health, webhooks, site, bypass, edge):
        app.register_blueprint(module.bp)
    # What a protected system's visitors reach through its proxy, under one prefix (docs/edge.md).
    prefix = app.config["GATE_PUBLIC_PREFIX"]
    app.register_blueprint(public.bp, url_prefix=prefix, name="visitor")
    app.register_blueprint(bypass.bp, url_prefix=prefix + "/bypass", name="visitor_bypass")
    # The demo API takes anonymous JSON writes and no cookie grants it anything.
    csrf.exempt(site.items)
    gate.init_gate(app)
    register_security_headers(app)


def _wants_json() -> bool:
    from .gate.inapp import wants_json

    return wants_json()


def register_errorhandlers(app: Flask) -> None:
    """Answer every error with a page or JSON, never a stack trace."""
    from flask_babel import gettext as _
    from flask_wtf.csrf import CSRFError

    from .extensions import db

    def respond(status: int, code: str, message: str) -> Response:
        if _wants_json():
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
            message = _default_error_message(error.code or 500, message)
        return respond(error.code or 500, code, message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return respond(500, "internal", _("Something went wrong on our side. It has been logged."))


def _default_error_message(status: int, fallback: str) -> str:
    """A translated explanation for the common HTTP errors raised without a description of ours."""
    from flask_babel import gettext as _

    messages = {
        400: _("The request could not be understood. Check what you sent and try again."),
        401: _("Please sign in to see that page."),
        403: _("You are not allowed to see that page."),
        404: _("There is no page at this address. Check the link or start from the home page."),
        405: _("This page does not accept that kind of request."),
        413: _("What you sent is too large."),
    }
    return messages.get(status, fallback)


def register_commands(app: Flask) -> None:
    from .cli import audit_cli, maintenance_cli, tokens_cli, users_cli, worker_command

    for command in (maintenance_cli, users_cli, tokens_cli, audit_cli, worker_command):
        app.cli.add_command(command)


def register_diagnostics(app: Flask) -> None:
    """Name the worker that answered (X-Pausa-Worker), for the propagation benchmark only."""
    if not app.config["EXPOSE_WORKER_HEADER"]:
        return
    import os
    import socket

    @app.after_request
    def _worker_header(response: Response) -> Response:
        response.headers["X-Pausa-Worker"] = f"{socket.gethostname()}:{os.getpid()}"
        return response


def register_template_helpers(app: Flask) -> None:
    from flask import g
    from pausa_gate.decision import ALLOW, banner_facts
    from pausa_gate.windows import utcnow

    @app.context_processor
    def maintenance_context() -> dict[str, Any]:
        return {
            "banner": banner_facts(g.get("maintenance", ALLOW), utcnow()),
            "banner_seconds": app.config["BANNER_POLL_SECONDS"],
        }
