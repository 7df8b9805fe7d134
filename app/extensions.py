"""Flask extensions, created unbound and initialised by the app factory; the keys of `app.extensions`."""

from flask import request
from flask_babel import Babel
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase

# What Pausa keeps in `app.extensions`, one key each, spelled "pausa.<name>"; the module that sets it.
SECURITY_HEADERS_KEY = "pausa.security_headers"  # headers every response carries: app/security.py
BRANDING_KEY = "pausa.branding"  # the checked branding: app/branding.py
METRICS_KEY = "pausa.metrics"  # this process's Prometheus counters: app/metrics.py
OUTBOX_KEY = "pausa.outbox"  # mails kept by MAIL_BACKEND=memory: app/mail.py
GATE_KEY = "pausa.gate"  # the in-app gate: app/gate/inapp.py
STATE_CACHE_KEY = "pausa.state_cache"  # the gate state this process enforces: app/gate/inapp.py
FEED_KEY = "pausa.feed"  # the state feed host apps follow: app/gate/inapp.py
NOTIFIER_KEY = "pausa.notifier"  # the Redis state notifier: app/gate/notifier.py
WEBHOOK_REJECTIONS_KEY = "pausa.webhook_rejections"  # unstored refusals: app/services/webhook_rejections.py
BREACH_AUDITS_KEY = "pausa.breach_audits"  # when each actor's breach was last audited: app/ratelimits.py
ATTEMPT_LIMITS_KEY = "pausa.attempt_limits"  # token failures counted while Redis fails: app/ratelimits.py
AUDIT_VERIFY_KEY = "pausa.audit_verify"  # the audit chain's last walk: app/services/audit.py


class Base(DeclarativeBase):
    pass


def _client_ip() -> str:
    """Key rate limits by the client IP that ProxyFix resolved."""
    return request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=_client_ip)
htmx = HTMX()
babel = Babel()
