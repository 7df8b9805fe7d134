"""Every Redis client Pausa makes, with the same TLS settings (REDIS_SSL_CERT_REQS, docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

CERT_REQS = ("required", "optional", "none")


def tls_options(url: str | None, cert_reqs: str, ca_certs: str | None) -> dict[str, Any]:
    """Return the TLS keyword arguments for a rediss:// URL; a redis:// one takes none."""
    if not url or not url.lower().startswith("rediss://"):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": cert_reqs}
    if ca_certs:
        options["ssl_ca_certs"] = ca_certs
    return options


def options_for(config: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    """Return the TLS keyword arguments the settings ask for, for a client of `url`."""
    return tls_options(url, config["REDIS_SSL_CERT_REQS"], config.get("REDIS_SSL_CA_CERTS"))


def url_with_tls(url: str, config: Mapping[str, Any]) -> str:
    """Put the TLS settings into a rediss:// URL's query (what the URL already says wins).

    For the rate limits: Flask-Limiter keeps the storage options of every app made in one
    process, so options would leak from one app to the next; the URL belongs to this app alone.
    """
    options = options_for(config, url)
    if not options:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    for name, value in options.items():
        query.setdefault(name, value)
    return urlunsplit(parts._replace(query=urlencode(query)))


def connect(url: str, config: Mapping[str, Any], **options: Any) -> redis.Redis:
    """Make a Redis client for `url` with the TLS settings applied."""
    return redis.Redis.from_url(url, **options, **options_for(config, url))


def check_settings(config: Mapping[str, Any]) -> None:
    """Refuse TLS settings that would fail only at the first Redis call."""
    if config["REDIS_SSL_CERT_REQS"] not in CERT_REQS:
        raise RuntimeError(f"REDIS_SSL_CERT_REQS must be one of: {', '.join(CERT_REQS)}.")
    ca_certs = config.get("REDIS_SSL_CA_CERTS")
    if ca_certs and not Path(ca_certs).is_file():
        raise RuntimeError(f"REDIS_SSL_CA_CERTS={ca_certs} is not a file (a PEM bundle of CA certificates).")
