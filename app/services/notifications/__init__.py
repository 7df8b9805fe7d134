"""Sending emails: "we're back" deliveries, notices to standing subscribers, their confirmations.

Modules: `breaker` (the circuit breaker), `batches` (what every pass shares: claiming a batch, one
call, isolating refused addresses, recording the answers), `deliveries` ("we're back"), `notices`
and `confirmations` (standing subscribers, docs/notices.md). Every public name is re-exported here.

`send_due_deliveries()` is what the worker's "send-deliveries" task runs. One pass:

1. Rows left `sending` for longer than LEASE become `uncertain` (see below).
2. The circuit breaker (table `circuit_breakers`, row "sendgrid", shared by every
   worker) may forbid calling: while open, no call at all; once the cool-down
   is over, one worker takes the single half-open trial batch.
3. For each window and language, claim due deliveries (`queued`, `not_before <= now`) with
   `claim()` (FOR UPDATE SKIP LOCKED on PostgreSQL), at most NOTIFY_BATCH_SIZE.
   Deliveries whose subscriber left (unsubscribed or erased) or whose window
   was followed by a NEW window (a flap: "we're back" would be a lie) become
   `skipped`. The rest become `sending` with one batch_id, and that is
   COMMITTED before the API is called: the row locks end there, and no other
   worker can claim those rows any more, so two workers never send the same rows.
4. One API call for the batch; then, in a new transaction: 202 → `sent`;
   429/5xx/timeout → back to `queued` with not_before = now + Retry-After (when
   the answer has one) or an exponential backoff, until NOTIFY_MAX_ATTEMPTS
   calls, then `failed`; other errors (400, 401…) → `failed` at once.
   A 400 refuses the whole call for one bad address, so it is isolated first
   (`batches.send_isolating`): the personalizations SendGrid names in its errors'
   `field` are set aside, or else the batch is halved, and the rest is sent
   again; only the refused recipients become `failed`. Each recipient is in
   exactly one accepted call, so nobody gets the email twice.

At most once after hand-off: a worker killed between the commit of `sending`
and the recording of the answer leaves its rows `sending`. Nobody can know
whether SendGrid accepted that call, so after LEASE (far longer than any call
can last: the HTTP timeout is seconds) the rows become `uncertain` and are
never sent again; they are counted on the dashboard and in /health/ready. A
duplicate "we're back" email would be harmless but annoying, a crash is rare,
and the admin can see how many people may have missed the email. (A timeout is
different: the worker is alive, SendGrid did not answer within the timeout,
and the batch is retried like a 5xx.)

While a row is `sending`, `not_before` holds the moment of the hand-off (the
lease's start); it is set again when the row goes back to `queued`.
"""

from .batches import (
    DEFAULT_BACKOFF_SECONDS,
    DEFAULT_MAX_ATTEMPTS,
    MAX_BACKOFF_SECONDS,
    MAX_ISOLATION_CALLS,
    STATUSES,
    Batch,
    Outcome,
    PassReport,
    backoff,
    batch_size,
)
from .breaker import BREAKER, LEASE, circuit_state
from .confirmations import send_confirmations
from .deliveries import (
    last_ended_window,
    mark_uncertain,
    notify_now,
    progress,
    queue_depth,
    send_due_deliveries,
    uncertain_count,
)
from .notices import (
    DEFER,
    NOTICE_TOLD,
    TOLD_ONLY,
    mark_uncertain_notices,
    notice_counts,
    notice_previews,
    send_due_notices,
)

__all__ = [
    "BREAKER",
    "DEFAULT_BACKOFF_SECONDS",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFER",
    "LEASE",
    "MAX_BACKOFF_SECONDS",
    "MAX_ISOLATION_CALLS",
    "NOTICE_TOLD",
    "STATUSES",
    "TOLD_ONLY",
    "Batch",
    "Outcome",
    "PassReport",
    "backoff",
    "batch_size",
    "circuit_state",
    "last_ended_window",
    "mark_uncertain",
    "mark_uncertain_notices",
    "notice_counts",
    "notice_previews",
    "notify_now",
    "progress",
    "queue_depth",
    "send_confirmations",
    "send_due_deliveries",
    "send_due_notices",
    "uncertain_count",
]
