"""Pausa: put a production system into maintenance safely and tell everyone what is going on."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, g
from pausa_gate.decision import ALLOW, banner_facts
from pausa_gate.windows import utcnow
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from .branding import init_branding
from .cli import COMMANDS
from .config import Config, TestConfig
from .config_checks import check_config
from .database import bound_connections, bound_engine_options
from .error_tracking import init_error_tracking
from .errors import register_errorhandlers
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .extensions import htmx as htmx_extension  # as "htmx", app/htmx.py would replace it once it loads
from .gate.fastpath import MaintenanceFastPath
from .gate.inapp import init_gate
from .i18n import init_i18n, select_locale
from .inputs import DatabaseIdConverter
from .metrics import register_metrics
from .redis_connections import url_with_tls
from .security import configure_secret_key, configure_secret_key_fallbacks, register_security_headers
from .services.alerts import register_hooks as register_alert_hooks
from .services.webhooks import register_hooks as register_webhook_hooks


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
    configure_secret_key_fallbacks(app)
    configure_logging(app)
    check_config(app.config)
    init_error_tracking(app)  # SENTRY_DSN (docs/observability.md); off by default
    register_extensions(app)
    init_branding(app)  # site name, logo, accent and template overrides (docs/branding.md)
    app.url_map.converters["int"] = DatabaseIdConverter  # before the routes that use it
    register_blueprints(app)
    register_wsgi_layers(app)
    register_errorhandlers(app)
    register_commands(app)
    register_template_helpers(app)
    register_diagnostics(app)
    register_alert_hooks()  # admin alerts on window transitions
    register_webhook_hooks()  # outbound webhooks on window transitions
    register_metrics(app)
    return app


def configure_logging(app: Flask) -> None:
    """Log at LOG_LEVEL outside tests and debugging; keep Alembic's plugin chatter out of scripts' output."""
    if not app.debug and not app.testing:
        logging.basicConfig(level=app.config["LOG_LEVEL"], format="%(levelname)s %(name)s: %(message)s")
    # Alembic announces each of its plugins at INFO on every command; scripts parse our output.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    """Bind the Flask extensions (app/extensions.py) to this app."""
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
    # The rate-limit counters' Redis gets the same TLS settings as every other Redis client.
    app.config["RATELIMIT_STORAGE_URI"] = url_with_tls(app.config["RATELIMIT_STORAGE_URI"], app.config)
    limiter.init_app(app)
    # Pausa sets only per-route limits, and their decorators check them themselves;
    # the extension's app-wide hook would cost every request (and the gate's budget) for nothing.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    htmx_extension.init_app(app)
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
    """Mount Pausa's pages, the API and, under GATE_PUBLIC_PREFIX, what visitors reach; start the gate."""
    # local: flaskr's way, the blueprints (and the services they import) load when an app is built
    from .blueprints import (
        admin,
        analytics,
        api,
        audit,
        auth,
        bypass,
        edge,
        health,
        public,
        standing,
        status,
        webhooks,
    )
    from .demo import site  # the sample protected app, not Pausa's own pages

    modules = (auth, admin, api, public, audit, analytics, health, webhooks, site, bypass, edge, standing)
    for module in modules:
        app.register_blueprint(module.bp)
    app.register_blueprint(status.bp)  # the public status page and its feeds (docs/status.md)
    # What a protected system's visitors reach through its proxy, under one prefix (docs/edge.md).
    prefix = app.config["GATE_PUBLIC_PREFIX"]
    app.register_blueprint(public.bp, url_prefix=prefix, name="visitor")
    # The status page there is <prefix>/status/: <prefix>/status is the maintenance page's poll.
    app.register_blueprint(status.bp, url_prefix=prefix + "/status", name="visitor_status", page_rule="/")
    app.register_blueprint(bypass.bp, url_prefix=prefix + "/bypass", name="visitor_bypass")
    app.register_blueprint(standing.bp, url_prefix=prefix + "/status", name="visitor_standing")
    # The demo API takes anonymous JSON writes and no cookie grants it anything.
    csrf.exempt(site.items)
    init_gate(app)
    register_security_headers(app)


def register_wsgi_layers(app: Flask) -> None:
    """Wrap the app: the maintenance fast path, then ProxyFix outermost so both see the client IP."""
    app.wsgi_app = MaintenanceFastPath(app.wsgi_app, app)
    if app.config["TRUSTED_PROXY_COUNT"] > 0:
        count = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def register_commands(app: Flask) -> None:
    """Add the `flask` commands (app/cli/)."""
    for command in COMMANDS:
        app.cli.add_command(command)


def register_template_helpers(app: Flask) -> None:
    """Give every page the maintenance banner's facts."""

    @app.context_processor
    def maintenance_context() -> dict[str, Any]:
        return {
            "banner": banner_facts(g.get("maintenance", ALLOW), utcnow()),
            "banner_seconds": app.config["BANNER_POLL_SECONDS"],
        }


def register_diagnostics(app: Flask) -> None:
    """Name the worker that answered (X-Pausa-Worker), for the propagation benchmark only."""
    if not app.config["EXPOSE_WORKER_HEADER"]:
        return

    @app.after_request
    def _worker_header(response: Response) -> Response:
        response.headers["X-Pausa-Worker"] = f"{socket.gethostname()}:{os.getpid()}"
        return response
