"""The secret key, security headers, safe redirects, and who is acting in a request."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, request
from flask_login import current_user
from pausa_gate.state import Actor

from .extensions import BRANDING_KEY, SECURITY_HEADERS_KEY


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


def configure_secret_key_fallbacks(app: Flask) -> None:
    """Let CSRF tokens signed with a fallback key verify, as Flask's session already does."""
    fallbacks = [key for key in app.config.get("SECRET_KEY_FALLBACKS") or () if key]
    app.config["SECRET_KEY_FALLBACKS"] = fallbacks
    if fallbacks and not app.config.get("WTF_CSRF_SECRET_KEY"):
        # itsdangerous signs with the last key of a list and verifies with all of them.
        app.config["WTF_CSRF_SECRET_KEY"] = [*fallbacks, app.config["SECRET_KEY"]]


def request_actor(name: str | None = None) -> Actor:
    """Describe who is acting in this request, for the audit trail."""
    if name is None:
        name = current_user.email if current_user.is_authenticated else "anonymous"
    return Actor(name=name, ip=request.remote_addr, user_agent=request.user_agent.string)


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """Return the CSP; `image_origins` are other sites images may come from (a configured logo)."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            " ".join(("img-src 'self' data:", *image_origins)),
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(production: bool, image_origins: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """Return the headers every response carries."""
    headers = (
        ("Content-Security-Policy", content_security_policy(image_origins)),
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )
    if production:
        headers += (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
    return headers


def register_security_headers(app: Flask) -> None:
    """Send a strict CSP, frame denial and nosniff on every response."""
    branding = app.extensions.get(BRANDING_KEY)
    logo_origin = branding.image_origin if branding is not None else None
    headers_to_send = security_headers(
        app.config["ENVIRONMENT"] == "production", (logo_origin,) if logo_origin else ()
    )
    app.extensions[SECURITY_HEADERS_KEY] = headers_to_send

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        for name, value in headers_to_send:
            headers.setdefault(name, value)
        return response


def safe_next(target: str | None, default: str = "/") -> str:
    """Return `target` only when it is a path on this site; never an open redirect."""
    if not target:
        return default
    target = target.strip()
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(char) < 32 for char in target)
    ):
        return default
    return target


def referring_page(hosts: tuple[str, ...] = ()) -> str:
    """Return the Referer's path and query when it is a page of this host (or of `hosts`), else ''."""
    referrer = urlsplit(request.referrer or "")
    allowed = {request.host.lower(), *(host.lower() for host in hosts)} - {""}
    if referrer.scheme not in ("http", "https") or referrer.netloc.lower() not in allowed:
        return ""
    return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""), "")


def same_site() -> bool:
    """Tell whether a POST came from a page of this site (or GATE_SITE_URL's): Origin, else Referer.

    A request with neither (curl, a privacy extension) is let through: it carries no
    credentials the subscription endpoints use, and browsers send Origin on every cross-site POST.
    """
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if source is None:
        return True
    origin = urlsplit(source).netloc.lower()
    # The form is also served on the protected system's own site, under the visitors' prefix.
    site = urlsplit(current_app.config.get("GATE_SITE_URL") or "").netloc.lower()
    return origin == request.host.lower() or (bool(site) and origin == site)
