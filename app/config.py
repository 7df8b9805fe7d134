"""Configuration, read from the environment (and a local `.env`) in one place."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def database_url(raw: str | None) -> str:
    """Accept Heroku's `postgres://` form and pick the psycopg 3 driver for PostgreSQL."""
    if not raw:
        return f"sqlite:///{BASE_DIR / 'instance' / 'pausa.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def _list(name: str) -> tuple[str, ...]:
    return tuple(item for item in os.environ.get(name, "").replace(",", " ").split() if item)


def _flag(name: str, default: str) -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "off", "false", "no", "")


def prometheus_multiproc_dir() -> str | None:
    """Where gunicorn workers share their metrics; read at call time by the gunicorn hooks too."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def _cli_actor() -> str:
    try:
        return os.environ.get("PAUSA_CLI_ACTOR") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Config:
    """Settings for a running Pausa; every value can be set by an environment variable."""

    ENVIRONMENT = os.environ.get("PAUSA_ENV", "development").strip().lower()
    SECRET_KEY = os.environ.get("SECRET_KEY")
    # Earlier keys, still accepted (never used to sign) while SECRET_KEY is rotated (docs/runbook.md).
    SECRET_KEY_FALLBACKS = _list("SECRET_KEY_FALLBACKS")
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Bounds on every PostgreSQL wait, in seconds (0 turns one off): opening a connection (also the
    # wait for a free one in the pool), and one statement (the server cancels it, and the client
    # drops the connection if the server does not answer at all). See docs/configuration.md.
    DATABASE_CONNECT_TIMEOUT = float(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3"))
    DATABASE_STATEMENT_TIMEOUT = float(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "5"))
    REDIS_URL = os.environ.get("REDIS_URL") or None
    REDIS_TIMEOUT = float(os.environ.get("REDIS_TIMEOUT", "0.5"))
    # TLS to Redis (rediss:// URLs): "required" checks the server's certificate; "none" accepts any,
    # for hosts such as Heroku Redis whose certificates are self-signed (docs/deploy.md says what it costs).
    REDIS_SSL_CERT_REQS = os.environ.get("REDIS_SSL_CERT_REQS", "required").strip().lower()
    # A PEM file of the certificate authorities to trust instead of the system's (with "required").
    REDIS_SSL_CA_CERTS = os.environ.get("REDIS_SSL_CA_CERTS") or None

    MAINTENANCE_GATE = _flag("MAINTENANCE_GATE", "on")
    MAINTENANCE_STATE_TTL = float(os.environ.get("MAINTENANCE_STATE_TTL", "1.0"))
    # What a worker enforces when no store answers and it never knew any state: "closed" serves the
    # generic "temporarily unavailable" page (503), "open" lets requests through (docs/fail-safe.md).
    MAINTENANCE_FAIL_MODE = os.environ.get("MAINTENANCE_FAIL_MODE", "closed").strip().lower()
    # Every worker keeps the last state it knew here and reads it on boot, before any store.
    MAINTENANCE_STATE_FILE = os.environ.get("MAINTENANCE_STATE_FILE") or str(
        BASE_DIR / "instance" / "gate-state.json"
    )
    # "background": a thread per worker revalidates every TTL, so no request waits for a store;
    # "inline": the request that finds the TTL over revalidates (the test suite's deterministic mode).
    MAINTENANCE_STATE_REFRESH = os.environ.get("MAINTENANCE_STATE_REFRESH", "background").strip().lower()
    # How long a booting worker that knows nothing (no snapshot) waits for its first state.
    MAINTENANCE_BOOT_WAIT = float(os.environ.get("MAINTENANCE_BOOT_WAIT", "1.0"))
    MAINTENANCE_ALLOWLIST = _list("MAINTENANCE_ALLOWLIST")
    MAINTENANCE_MAX_HOURS = float(os.environ.get("MAINTENANCE_MAX_HOURS", "8"))
    STATUS_POLL_MIN_SECONDS = int(os.environ.get("STATUS_POLL_MIN_SECONDS", "5"))
    STATUS_POLL_MAX_SECONDS = int(os.environ.get("STATUS_POLL_MAX_SECONDS", "30"))
    BANNER_POLL_SECONDS = int(os.environ.get("BANNER_POLL_SECONDS", "15"))

    # The edge gate (docs/edge.md): the path prefix under which Pausa serves a protected system's
    # visitors (the proxy routes it to Pausa), and the proxies whose X-Forwarded-For /gate/check
    # believes (IPs or CIDRs; none by default, so no IP allowlist matches through an unknown caller).
    GATE_PUBLIC_PREFIX = os.environ.get("GATE_PUBLIC_PREFIX", "/_pausa").strip().rstrip("/")
    GATE_TRUSTED_PROXIES = _list("GATE_TRUSTED_PROXIES")
    # The protected system's address (https://shop.example.com): bypass links are made on it.
    GATE_SITE_URL = os.environ.get("GATE_SITE_URL") or None
    # Host apps' gates long-polling the state feed that one worker holds at once (each holds a thread).
    GATE_FEED_MAX_WAITERS = int(os.environ.get("GATE_FEED_MAX_WAITERS", "4"))

    TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
    # The path the site is served under ("" at the root, "/status" below a prefix); gunicorn reads
    # the same variable. The shared maintenance page's links start with it, never with a request's.
    SCRIPT_NAME = os.environ.get("SCRIPT_NAME", "").strip()
    # The site's public address, for links printed outside a request (`flask maintenance bypass-link`).
    PUBLIC_URL = os.environ.get("PUBLIC_URL") or None
    # The first admin `flask users bootstrap` creates (app.json asks for it on Heroku).
    ADMIN_EMAIL = os.environ.get("ADMIN_EMAIL") or None
    # How long a one-time set-password link (`flask users bootstrap --link`) works.
    PASSWORD_LINK_HOURS = float(os.environ.get("PASSWORD_LINK_HOURS", "24"))
    MAX_CONTENT_LENGTH = int(os.environ.get("MAX_CONTENT_LENGTH", str(1024 * 1024)))
    SESSION_COOKIE_NAME = "pausa_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = ENVIRONMENT == "production"
    REMEMBER_COOKIE_NAME = "pausa_remember"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_SECURE = ENVIRONMENT == "production"
    PREFERRED_URL_SCHEME = "https" if ENVIRONMENT == "production" else "http"
    # The dashboard stays open for hours during an incident: tie the CSRF token
    # to the session instead of letting it expire after an hour.
    WTF_CSRF_TIME_LIMIT = None

    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_SWALLOW_ERRORS = True
    # Redis down: keep limiting, in this worker's memory, instead of failing requests.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # create_app puts REDIS_SSL_CERT_REQS into a rediss:// storage URI's query.
    RATELIMIT_STORAGE_OPTIONS = {"socket_timeout": REDIS_TIMEOUT, "socket_connect_timeout": REDIS_TIMEOUT}
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    STATE_CHANGE_RATE_LIMIT = os.environ.get("STATE_CHANGE_RATE_LIMIT", "5 per minute")
    # Bypass links made per admin or token (dashboard and API share it); each moves the state version.
    BYPASS_LINK_RATE_LIMIT = os.environ.get("BYPASS_LINK_RATE_LIMIT", "10 per minute")
    # Failed bearer-token attempts per client IP; past it, 429 without a database lookup.
    TOKEN_FAILURE_RATE_LIMIT = os.environ.get("TOKEN_FAILURE_RATE_LIMIT", "10 per minute")

    STRIPE_WEBHOOK_SECRETS = _list("STRIPE_WEBHOOK_SECRETS")
    # Webhooks: Standard Webhooks receivers' whsec_ secrets, the inbox worker, outbound delivery.
    STANDARD_WEBHOOK_SECRETS = _list("STANDARD_WEBHOOK_SECRETS")
    WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("WEBHOOK_MAX_ATTEMPTS", "8"))  # then dead letter / failed
    WEBHOOK_BACKOFF_SECONDS = float(os.environ.get("WEBHOOK_BACKOFF_SECONDS", "10"))  # doubles per retry
    WEBHOOK_BATCH_SIZE = int(os.environ.get("WEBHOOK_BATCH_SIZE", "100"))
    OUTBOUND_WEBHOOK_URLS = _list("OUTBOUND_WEBHOOK_URLS")
    OUTBOUND_WEBHOOK_SECRET = os.environ.get("OUTBOUND_WEBHOOK_SECRET") or None
    OUTBOUND_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("OUTBOUND_WEBHOOK_TIMEOUT_SECONDS", "10"))
    CLI_ACTOR = _cli_actor()
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    # Subscribers and notifications.
    SENDGRID_API_KEY = os.environ.get("SENDGRID_API_KEY") or None
    SENDGRID_API_HOST = os.environ.get("SENDGRID_API_HOST", "https://api.sendgrid.com")
    MAIL_FROM = os.environ.get("MAIL_FROM", "pausa@localhost")
    # sendgrid | disabled (no email at all: no subscribe form, no admin alert emails) | console (logs
    # emails with masked addresses, development) | memory (tests); production refuses console and
    # memory at start, see docs/production.md.
    MAIL_BACKEND = (
        os.environ.get("MAIL_BACKEND") or ("sendgrid" if SENDGRID_API_KEY else "console")
    ).strip().lower()
    NOTIFY_DELAY_SECONDS = int(os.environ.get("NOTIFY_DELAY_SECONDS", "60"))
    NOTIFY_BATCH_SIZE = int(os.environ.get("NOTIFY_BATCH_SIZE", "1000"))
    SUBSCRIBER_RETENTION_DAYS = int(os.environ.get("SUBSCRIBER_RETENTION_DAYS", "7"))
    # Retention (docs/retention.md): days the worker keeps finished rows, 0 keeping them forever.
    # Webhooks: processed inbound events, finished outbound deliveries, rejection counts.
    # Notifications: "we're back" emails, notices, admin alerts sent or given up.
    RETENTION_WEBHOOKS_DAYS = int(os.environ.get("RETENTION_WEBHOOKS_DAYS", "30"))
    RETENTION_NOTIFICATIONS_DAYS = int(os.environ.get("RETENTION_NOTIFICATIONS_DAYS", "90"))
    SUBSCRIBE_RATE_LIMIT = os.environ.get("SUBSCRIBE_RATE_LIMIT", "5 per minute")
    CIRCUIT_FAILURE_THRESHOLD = int(os.environ.get("CIRCUIT_FAILURE_THRESHOLD", "5"))
    CIRCUIT_COOLDOWN_SECONDS = int(os.environ.get("CIRCUIT_COOLDOWN_SECONDS", "60"))
    SENDGRID_TIMEOUT_SECONDS = float(os.environ.get("SENDGRID_TIMEOUT_SECONDS", "10"))
    NOTIFY_MAX_ATTEMPTS = int(os.environ.get("NOTIFY_MAX_ATTEMPTS", "5"))  # API calls per email, then failed
    NOTIFY_BACKOFF_SECONDS = float(os.environ.get("NOTIFY_BACKOFF_SECONDS", "30"))  # doubles per retry
    # Standing subscriptions (docs/notices.md): the reminder before a scheduled window starts, how
    # long a confirmation link works, how often a pending address may get it again, and how long
    # changes to a window's times are gathered into one "changed" notice.
    NOTICE_REMINDER_MINUTES = int(os.environ.get("NOTICE_REMINDER_MINUTES", "60"))
    NOTICE_CONFIRM_HOURS = int(os.environ.get("NOTICE_CONFIRM_HOURS", "48"))
    NOTICE_CONFIRM_RESEND_MINUTES = int(os.environ.get("NOTICE_CONFIRM_RESEND_MINUTES", "10"))
    NOTICE_CHANGE_COALESCE_MINUTES = int(os.environ.get("NOTICE_CHANGE_COALESCE_MINUTES", "5"))
    # The operator's language (en or pt_BR): admin alerts are written in it, subscribers whose
    # language is unknown get their email in it, and the dashboard asks the message in the others.
    BABEL_DEFAULT_LOCALE = os.environ.get("BABEL_DEFAULT_LOCALE", "en").strip()
    # Admin alerts: email addresses and/or a Slack incoming webhook.
    ADMIN_ALERT_EMAILS = _list("ADMIN_ALERT_EMAILS")
    SLACK_WEBHOOK_URL = os.environ.get("SLACK_WEBHOOK_URL") or None
    # e.g. "02:00-06:00 America/Sao_Paulo": activations outside it alert the admins.
    PLANNED_WINDOW = os.environ.get("PLANNED_WINDOW") or None

    # Branding (docs/branding.md): the name visitors know the site by, its logo (a path such as
    # /_pausa/brand/logo.svg, or an https URL), an accent colour (#rgb or #rrggbb only: it goes into
    # CSS) and a directory of templates searched before the built-in ones. Checked at startup.
    SITE_NAME = os.environ.get("PAUSA_SITE_NAME", "").strip()
    LOGO_URL = os.environ.get("PAUSA_LOGO_URL") or None
    ACCENT_COLOR = os.environ.get("PAUSA_ACCENT_COLOR") or None
    TEMPLATES_DIR = os.environ.get("PAUSA_TEMPLATES_DIR") or None

    # Benchmarks only: say which worker answered, to time propagation to every worker.
    EXPOSE_WORKER_HEADER = _flag("PAUSA_WORKER_HEADER", "off")

    # Health and metrics.
    # The readiness check's own bound on the database's answer, shorter than a page's.
    HEALTH_CHECK_TIMEOUT = float(os.environ.get("HEALTH_CHECK_TIMEOUT", "1.0"))
    WORKER_STALE_SECONDS = float(os.environ.get("WORKER_STALE_SECONDS", "60"))
    PROMETHEUS_MULTIPROC_DIR = prometheus_multiproc_dir()
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None
    # Heroku names every dyno in DYNO; the doctor reads it to know a router stands in front.
    HEROKU_DYNO = os.environ.get("DYNO") or None
    # Queue depths at which /health/ready says "degraded" and the worker alerts once (0: off).
    BACKLOG_WARN_EMAILS = int(os.environ.get("BACKLOG_WARN_EMAILS", "5000"))
    BACKLOG_WARN_WEBHOOKS = int(os.environ.get("BACKLOG_WARN_WEBHOOKS", "500"))
    DEAD_LETTER_WARN = int(os.environ.get("DEAD_LETTER_WARN", "1"))
    # Error tracking (docs/observability.md): off while empty; the release defaults to Heroku's commit.
    SENTRY_DSN = os.environ.get("SENTRY_DSN") or None
    SENTRY_RELEASE = os.environ.get("SENTRY_RELEASE") or os.environ.get("HEROKU_SLUG_COMMIT") or None

    # Backups (docs/backup.md): the worker keeps an archive in BACKUP_DIR (empty: no scheduled
    # backups) at most BACKUP_EVERY_HOURS old, and deletes all but the newest BACKUP_KEEP.
    BACKUP_DIR = os.environ.get("BACKUP_DIR", "").strip()
    BACKUP_EVERY_HOURS = float(os.environ.get("BACKUP_EVERY_HOURS", "24"))
    BACKUP_KEEP = int(os.environ.get("BACKUP_KEEP", "7"))


class TestConfig(Config):
    """Settings for the test suite: a throwaway database, fixed secret, instant revalidation."""

    ENVIRONMENT = "test"
    TESTING = True
    SECRET_KEY = "test-secret-key"
    SECRET_KEY_FALLBACKS = ()
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("TEST_DATABASE_URL") or "sqlite://")
    REDIS_URL = None
    REDIS_SSL_CERT_REQS = "required"
    REDIS_SSL_CA_CERTS = None
    RATELIMIT_STORAGE_URI = "memory://"
    ADMIN_EMAIL = None
    PASSWORD_LINK_HOURS = 24.0
    MAINTENANCE_STATE_TTL = 0.0
    MAINTENANCE_STATE_REFRESH = "inline"
    MAINTENANCE_STATE_FILE = None  # tests that are about the snapshot pass a file of their own
    MAINTENANCE_GATE = True
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_SECURE = False
    STRIPE_WEBHOOK_SECRETS = ("whsec_test_primary", "whsec_test_rotated")
    STANDARD_WEBHOOK_SECRETS = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_cm90YXRlZC1zdGFuZGFyZC1rZXk=",  # current, rotated
    )
    OUTBOUND_WEBHOOK_URLS = ()
    OUTBOUND_WEBHOOK_SECRET = None
    WEBHOOK_BACKOFF_SECONDS = 10.0
    CLI_ACTOR = "tester"
    MAIL_BACKEND = "memory"
    SENDGRID_API_KEY = None
    SLACK_WEBHOOK_URL = None
    ADMIN_ALERT_EMAILS = ()
    PLANNED_WINDOW = None
    SITE_NAME = ""
    LOGO_URL = None
    ACCENT_COLOR = None
    TEMPLATES_DIR = None
    NOTIFY_DELAY_SECONDS = 60
    PROMETHEUS_MULTIPROC_DIR = None
    METRICS_TOKEN = None
    HEROKU_DYNO = None
    SENTRY_DSN = None
    BACKUP_DIR = ""
