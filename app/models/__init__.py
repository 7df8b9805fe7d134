"""Database models, one module per concern; every name is re-exported so `from app.models import X` works.

Importing this package imports every model module, so `db.metadata` (create_all, Alembic's
autogenerate in migrations/env.py) sees every table of Pausa's; the demo's own table is in app/demo/models.py.
"""

from .audit import AUDIT_APPEND_ONLY_FUNCTION, AUDIT_APPEND_ONLY_TRIGGER, AuditEntry
from .bypass import BypassLink
from .notifications import (
    AdminAlert,
    CircuitBreaker,
    Delivery,
    Notice,
    NoticeRound,
    StandingSubscriber,
    Subscriber,
)
from .types import UTCDateTime, utcnow
from .users import ApiToken, User, UserSession
from .webhooks import OutboundWebhook, PaymentEvent, WebhookEvent, WebhookRejection, WebhookSubscriber
from .windows import MaintenanceState, MaintenanceWindow, Recurrence
from .workers import WorkerHeartbeat

__all__ = [
    "AUDIT_APPEND_ONLY_FUNCTION",
    "AUDIT_APPEND_ONLY_TRIGGER",
    "AdminAlert",
    "ApiToken",
    "AuditEntry",
    "BypassLink",
    "CircuitBreaker",
    "Delivery",
    "MaintenanceState",
    "MaintenanceWindow",
    "Notice",
    "NoticeRound",
    "OutboundWebhook",
    "PaymentEvent",
    "Recurrence",
    "StandingSubscriber",
    "Subscriber",
    "UTCDateTime",
    "User",
    "UserSession",
    "WebhookEvent",
    "WebhookRejection",
    "WebhookSubscriber",
    "WorkerHeartbeat",
    "utcnow",
]
