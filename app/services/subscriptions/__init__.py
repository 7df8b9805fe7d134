"""Subscribers: to one window ("we're back") or to every window (notices); links; queueing; erasure.

Subscribing and unsubscribing are anonymous and are not written to the audit
trail: it is append-only, so an address (or the visitor's IP) put there could
never be erased, and an anonymous flood would grow it. The retention run,
a system change, is audited once per run with its count.

Modules: `addresses` (validate, normalise, hash), `links` (encrypted tokens and the URLs in
emails), `window` (per-window subscribers and their "we're back" deliveries), `standing` (the
double opt-in to every window's notices) and `notices` (queueing those notices). Every public
name is re-exported here, so `subscriptions.queue_deliveries(...)` and the like keep working.
"""

from .addresses import EMAIL_MAX, EmailDisabled, InvalidEmail, email_hash, normalise_email
from .links import (
    CONFIRM_SALT,
    STANDING_UNSUBSCRIBE_SALT,
    UNSUBSCRIBE_SALT,
    confirm_token,
    confirm_url,
    read_confirm_token,
    read_standing_unsubscribe_token,
    read_unsubscribe_token,
    standing_unsubscribe_token,
    standing_unsubscribe_url,
    unsubscribe_token,
    unsubscribe_url,
)
from .notices import (
    OCCURRENCE_ANNOUNCED_AHEAD,
    PUBLIC_TIMES,
    queue_change_notices,
    queue_due_announcements,
    queue_due_reminders,
    queue_end_notices,
    queue_notices,
)
from .standing import (
    CONFIRMED,
    PENDING_STATUS,
    STANDING_STATUSES,
    UNSUBSCRIBED,
    confirm_standing,
    erase_unconfirmed_standing,
    standing_counts,
    subscribe_standing,
    unsubscribe_standing,
)
from .window import (
    KIND,
    PENDING,
    SHOWN,
    Subscription,
    dashboard_counts,
    erase_expired_subscribers,
    queue_deliveries,
    subscribe,
    unsubscribe,
)

__all__ = [
    "CONFIRMED",
    "CONFIRM_SALT",
    "EMAIL_MAX",
    "KIND",
    "OCCURRENCE_ANNOUNCED_AHEAD",
    "PENDING",
    "PENDING_STATUS",
    "PUBLIC_TIMES",
    "SHOWN",
    "STANDING_STATUSES",
    "STANDING_UNSUBSCRIBE_SALT",
    "UNSUBSCRIBED",
    "UNSUBSCRIBE_SALT",
    "EmailDisabled",
    "InvalidEmail",
    "Subscription",
    "confirm_standing",
    "confirm_token",
    "confirm_url",
    "dashboard_counts",
    "email_hash",
    "erase_expired_subscribers",
    "erase_unconfirmed_standing",
    "normalise_email",
    "queue_change_notices",
    "queue_deliveries",
    "queue_due_announcements",
    "queue_due_reminders",
    "queue_end_notices",
    "queue_notices",
    "read_confirm_token",
    "read_standing_unsubscribe_token",
    "read_unsubscribe_token",
    "standing_counts",
    "standing_unsubscribe_token",
    "standing_unsubscribe_url",
    "subscribe",
    "subscribe_standing",
    "unsubscribe",
    "unsubscribe_standing",
    "unsubscribe_token",
    "unsubscribe_url",
]
