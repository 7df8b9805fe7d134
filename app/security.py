"""Security headers and safe redirects."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def security_headers(production: bool) -> tuple[tuple[str, str], ...]:
    """Return the headers every response carries."""
    headers = (
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
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
    headers_to_send = security_headers(app.config["ENVIRONMENT"] == "production")
    app.extensions["pausa.security_headers"] = headers_to_send

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
