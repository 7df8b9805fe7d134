"""Webhooks, in and out: every public name of the inbox and of the outbound queue, in one place.

The inbox (verified inbound events, their handlers, the dead-letter queue) is in
app/services/webhook_inbox.py; outbound deliveries (window transitions POSTed, signed, with
retries) in app/services/webhook_outbound.py. Callers use `from app.services import webhooks`.
"""

from .webhook_inbox import (
    HANDLERS,
    PROVIDERS,
    SECRETS,
    STATUSES,
    Handler,
    InboxReport,
    counts_by_status,
    dead_count,
    handle_standard,
    handle_stripe,
    handler,
    ingest,
    latest_events,
    pending_count,
    process_inbox,
    processing_paused,
    replay,
)
from .webhook_outbound import (
    OUTBOUND_EVENTS,
    OutboundReport,
    backoff,
    deliver_outbound,
    outbound_queued_count,
    queue_outbound,
    register_hooks,
    window_payload,
)

__all__ = [
    "HANDLERS",
    "OUTBOUND_EVENTS",
    "PROVIDERS",
    "SECRETS",
    "STATUSES",
    "Handler",
    "InboxReport",
    "OutboundReport",
    "backoff",
    "counts_by_status",
    "dead_count",
    "deliver_outbound",
    "handle_standard",
    "handle_stripe",
    "handler",
    "ingest",
    "latest_events",
    "outbound_queued_count",
    "pending_count",
    "process_inbox",
    "processing_paused",
    "queue_outbound",
    "register_hooks",
    "replay",
    "window_payload",
]
