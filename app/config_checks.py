"""Refuse, at start-up, settings that would silently switch maintenance off or pretend to work."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pausa_gate.asking import parse_networks
from pausa_gate.paths import normalise_path

from .i18n import LANGUAGES
from .mail import BACKENDS
from .maintenance.planned import parse_planned
from .maintenance.signatures import SignatureError, standard_key
from .redis_connections import check_settings

# Empty, or path segments of unreserved characters: never "//host", a query or a trailing slash.
SCRIPT_NAME_FORMAT = re.compile(r"(/[A-Za-z0-9._~-]+)*")


def check_config(config: Mapping[str, Any]) -> None:
    """Refuse settings that would silently switch maintenance off for everyone."""
    if any(normalise_path(prefix) == "/" for prefix in config["MAINTENANCE_ALLOWLIST"]):
        raise RuntimeError("MAINTENANCE_ALLOWLIST must not contain '/': it would allow every path.")
    if config["MAINTENANCE_FAIL_MODE"] not in ("closed", "open"):
        raise RuntimeError("MAINTENANCE_FAIL_MODE must be 'closed' or 'open'.")
    if config["MAINTENANCE_STATE_REFRESH"] not in ("background", "inline"):
        raise RuntimeError("MAINTENANCE_STATE_REFRESH must be 'background' or 'inline'.")
    if not SCRIPT_NAME_FORMAT.fullmatch(config["SCRIPT_NAME"]):
        raise RuntimeError(
            "SCRIPT_NAME must be empty or a path like /status (no trailing slash, no host)."
        )
    prefix = config["GATE_PUBLIC_PREFIX"]
    if not prefix or not SCRIPT_NAME_FORMAT.fullmatch(prefix):
        raise RuntimeError("GATE_PUBLIC_PREFIX must be a path like /_pausa (no trailing slash, no host).")
    parse_networks(config["GATE_TRUSTED_PROXIES"])  # a ValueError names the entry
    if config.get("PLANNED_WINDOW"):
        parse_planned(config["PLANNED_WINDOW"])  # a ValueError names the expected format
    if config["BABEL_DEFAULT_LOCALE"] not in LANGUAGES:
        raise RuntimeError(f"BABEL_DEFAULT_LOCALE must be one of: {', '.join(LANGUAGES)}.")
    check_settings(config)
    check_mail_config(config)
    if config["ENVIRONMENT"] == "production":
        check_webhook_config(config)


def check_mail_config(config: Mapping[str, Any]) -> None:
    """Refuse a mail setup that would pretend to send: production sends through SendGrid or not at all.

    See docs/production.md for what each choice means.
    """
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
