"""Settings checks: pure functions over a configuration mapping, so they run where the app cannot start."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pausa_gate.asking import parse_networks

from ...mail import BACKENDS
from ...maintenance.signatures import SignatureError, standard_key
from .results import FAIL, OK, WARN, Result, worst

# SECRET_KEY values found in examples and tutorials: signing with one lets anyone forge a session.
KNOWN_SECRET_KEYS = frozenset({
    "test-secret-key", "bench-secret-key", "test", "dev", "development", "secret", "secret-key",
    "secretkey", "changeme", "change-me", "change_me", "replace-me", "your-secret-key", "please-change-me",
})
SECRET_KEY_MIN_LENGTH = 32
MAX_PROXY_COUNT = 3


def is_production(config: Mapping[str, Any]) -> bool:
    return config.get("ENVIRONMENT") == "production"


def check_secret_key(config: Mapping[str, Any]) -> Result:
    """In production SECRET_KEY must be set, long, and not a value copied from an example."""
    key = config.get("SECRET_KEY") or ""
    if not is_production(config):
        return Result("secret_key", OK, "not production: a development key is fine")
    fix = "set SECRET_KEY to `python -c 'import secrets; print(secrets.token_hex(32))'`"
    if not key:
        return Result("secret_key", FAIL, f"SECRET_KEY is not set (the app refuses to start): {fix}")
    if key.strip().lower() in KNOWN_SECRET_KEYS:
        return Result("secret_key", FAIL, f"SECRET_KEY is a well-known example value, anyone can forge "
                                          f"sessions: {fix} (everyone is signed out)")
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return Result("secret_key", FAIL, f"SECRET_KEY has {len(key)} characters, fewer than "
                                          f"{SECRET_KEY_MIN_LENGTH}: {fix} (everyone is signed out)")
    if len(set(key)) < 10:
        return Result("secret_key", WARN, f"SECRET_KEY repeats a few characters, not random: {fix}")
    return Result("secret_key", OK, "set, long enough")


def check_mail_settings(config: Mapping[str, Any]) -> Result:
    """The mail backend, its key, the sender and the address emails link back to fit together."""
    backend = config.get("MAIL_BACKEND")
    production = is_production(config)
    findings: list[tuple[str, str]] = []
    if backend not in BACKENDS:
        findings.append((FAIL, f"MAIL_BACKEND={backend!r} is unknown: choose one of {', '.join(BACKENDS)}"))
    elif backend in ("console", "memory") and production:
        findings.append((FAIL, f"MAIL_BACKEND={backend} only pretends to send in production: set "
                               "SENDGRID_API_KEY and MAIL_BACKEND=sendgrid, or MAIL_BACKEND=disabled"))
    if backend == "sendgrid":
        if not config.get("SENDGRID_API_KEY"):
            findings.append((FAIL, "MAIL_BACKEND=sendgrid without SENDGRID_API_KEY: every email fails; "
                                   "set the key or MAIL_BACKEND=disabled"))
        sender = (config.get("MAIL_FROM") or "").strip()
        if not sender or sender.endswith("@localhost") or "@" not in sender:
            findings.append((FAIL, f"MAIL_FROM={sender!r} is not a sender SendGrid accepts: set MAIL_FROM "
                                   "to an address of a domain verified in SendGrid"))
        if not config.get("PUBLIC_URL"):
            findings.append((FAIL if production else WARN,
                             "PUBLIC_URL is unset: links in emails (confirm, unsubscribe) point at "
                             "http://localhost:5000; set PUBLIC_URL=https://<this site>"))
    if backend == "disabled" and config.get("SENDGRID_API_KEY"):
        findings.append((WARN, "SENDGRID_API_KEY is set but MAIL_BACKEND=disabled: no email is sent; "
                               "set MAIL_BACKEND=sendgrid, or unset the key if email is meant to be off"))
    if backend == "disabled" and config.get("ADMIN_ALERT_EMAILS"):
        findings.append((FAIL if production else WARN,
                         "ADMIN_ALERT_EMAILS is set but MAIL_BACKEND=disabled: alerts are never emailed; "
                         "configure SendGrid or unset ADMIN_ALERT_EMAILS"))
    public_url = config.get("PUBLIC_URL")
    if public_url and production and not str(public_url).startswith("https://"):
        findings.append((WARN, f"PUBLIC_URL={public_url} is not https: links in emails would be sent "
                               "in the clear; use the https address"))
    sends = {
        "sendgrid": "sends through SendGrid", "disabled": "email is disabled (the operator's choice)",
        "console": "logs emails instead of sending (development)", "memory": "keeps emails in memory (tests)",
    }
    return worst("mail_settings", findings, f"MAIL_BACKEND={backend}: {sends.get(backend, '')}")


def check_webhook_settings(config: Mapping[str, Any]) -> Result:
    """Each configured receiver and the outbound sender have usable secrets."""
    findings: list[tuple[str, str]] = []
    if config.get("OUTBOUND_WEBHOOK_URLS") and not config.get("OUTBOUND_WEBHOOK_SECRET"):
        findings.append((FAIL, "OUTBOUND_WEBHOOK_URLS is set without OUTBOUND_WEBHOOK_SECRET: nothing is "
                               "sent; set OUTBOUND_WEBHOOK_SECRET=whsec_<base64 key> or unset the URLs"))
    named = [("OUTBOUND_WEBHOOK_SECRET", config.get("OUTBOUND_WEBHOOK_SECRET"))]
    named += [("STANDARD_WEBHOOK_SECRETS", secret) for secret in config.get("STANDARD_WEBHOOK_SECRETS") or ()]
    for name, secret in named:
        if not secret:
            continue
        try:
            standard_key(secret)
        except SignatureError:
            findings.append((FAIL, f"{name} holds a secret that is not whsec_<base64 key>: copy it again "
                                   "from the sender"))
            break
    for secret in config.get("STRIPE_WEBHOOK_SECRETS") or ():
        if not secret.startswith("whsec_"):
            findings.append((WARN, "STRIPE_WEBHOOK_SECRETS holds a value that does not start with whsec_: "
                                   "copy the endpoint's signing secret from Stripe's dashboard"))
            break
    receivers = [provider for provider, setting in (("stripe", "STRIPE_WEBHOOK_SECRETS"),
                                                    ("standard", "STANDARD_WEBHOOK_SECRETS"))
                 if config.get(setting)]
    outbound = "signed" if config.get("OUTBOUND_WEBHOOK_URLS") else "off"
    configured = ", ".join(receivers) or "none configured (they answer 503)"
    return worst("webhook_settings", findings, f"receivers: {configured}; outbound: {outbound}")


def check_proxy_settings(config: Mapping[str, Any]) -> Result:
    """TRUSTED_PROXY_COUNT fits the hosting, and GATE_TRUSTED_PROXIES parses and trusts no one at large."""
    findings: list[tuple[str, str]] = []
    count = config.get("TRUSTED_PROXY_COUNT", 0)
    if not 0 <= count <= MAX_PROXY_COUNT:
        findings.append((FAIL, f"TRUSTED_PROXY_COUNT={count} is not between 0 and {MAX_PROXY_COUNT}: set it "
                               "to the number of proxies in front of Pausa (1 behind nginx or Heroku)"))
    elif count == 0 and config.get("HEROKU_DYNO"):
        findings.append((WARN, "TRUSTED_PROXY_COUNT=0 on Heroku: every visitor has the router's address, "
                               "so IP allowlists and rate limits see one client; set TRUSTED_PROXY_COUNT=1"))
    try:
        networks = parse_networks(config.get("GATE_TRUSTED_PROXIES") or ())
    except ValueError as error:
        findings.append((FAIL, f"GATE_TRUSTED_PROXIES: {error} Fix the entry (IPs or CIDRs)"))
    else:
        if any(network.prefixlen == 0 for network in networks):
            findings.append((WARN, "GATE_TRUSTED_PROXIES trusts every address (a /0 network): anyone can "
                                   "claim an allowlisted IP; list only your proxies"))
    return worst("proxy_settings", findings, f"TRUSTED_PROXY_COUNT={count}")


def check_redis_settings(config: Mapping[str, Any]) -> Result:
    """REDIS_URL has a scheme Redis clients know; rediss:// on Heroku needs the certificate setting."""
    url = config.get("REDIS_URL")
    if not url:
        return Result("redis_settings", OK, "REDIS_URL unset: changes reach other instances through "
                                            "the database (Redis is optional)")
    parts = urlsplit(url)
    findings: list[tuple[str, str]] = []
    if parts.scheme not in ("redis", "rediss", "unix"):
        findings.append((FAIL, f"REDIS_URL starts with {parts.scheme or 'no scheme'}://, not redis://, "
                               "rediss:// or unix://: copy the URL your Redis provider gives"))
    elif (
        parts.scheme == "rediss" and config.get("HEROKU_DYNO")
        and (config.get("REDIS_SSL_CERT_REQS") or "required") == "required"
        and not config.get("REDIS_SSL_CA_CERTS") and "ssl_cert_reqs" not in parse_qs(parts.query)
    ):
        # The add-on owns and rotates REDIS_URL: the fix is Pausa's own setting, never an edited URL.
        findings.append((WARN, "REDIS_URL is rediss:// on Heroku, whose Redis certificate is self-signed, "
                               "and REDIS_SSL_CERT_REQS=required refuses it: run "
                               "`heroku config:set REDIS_SSL_CERT_REQS=none`"))
    return worst("redis_settings", findings, f"REDIS_URL uses {parts.scheme}://")


def check_gate_settings(config: Mapping[str, Any]) -> Result:
    """The gate is on in production, /metrics is guarded, and benchmark-only switches are off."""
    findings: list[tuple[str, str]] = []
    production = is_production(config)
    if not config.get("MAINTENANCE_GATE", True):
        findings.append((FAIL if production else WARN,
                         "MAINTENANCE_GATE=off: maintenance is never enforced (benchmarks only); unset it"))
    if production and not config.get("METRICS_TOKEN"):
        findings.append((WARN, "METRICS_TOKEN is unset: /metrics answers anyone; set METRICS_TOKEN or "
                               "keep /metrics on a private network"))
    if production and config.get("EXPOSE_WORKER_HEADER"):
        findings.append((WARN, "PAUSA_WORKER_HEADER is on: every response names its host and process "
                               "(benchmarks only); unset it"))
    return worst("gate_settings", findings, f"gate on, fail mode {config.get('MAINTENANCE_FAIL_MODE')}")


SETTINGS_CHECKS: tuple[Callable[[Mapping[str, Any]], Result], ...] = (
    check_secret_key, check_mail_settings, check_webhook_settings, check_proxy_settings,
    check_redis_settings, check_gate_settings,
)


def check_settings(config: Mapping[str, Any]) -> list[Result]:
    """Run every settings check on a configuration mapping (the app's, or one that refuses to start)."""
    return [check(config) for check in SETTINGS_CHECKS]
