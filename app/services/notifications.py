"""Sending the "we're back" emails: claim, hand off, record; with a circuit breaker.

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
   (`_send_isolating`): the personalizations SendGrid names in its errors'
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

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import SYSTEM, Actor, Status
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from .. import hooks, mail
from ..extensions import db
from ..models import CircuitBreaker, Delivery, MaintenanceWindow, Subscriber, utcnow
from ..worker import claim
from . import NotFound, audit

log = logging.getLogger("pausa.notifications")

BREAKER = "sendgrid"
LEASE = timedelta(minutes=10)
STATUSES = ("queued", "sending", "sent", "skipped", "failed", "uncertain")
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 3600.0


@dataclass
class PassReport:
    """What one pass did."""

    calls: int = 0
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    uncertain: int = 0
    circuit: str = "closed"
    errors: list[str] = field(default_factory=list)


def _setting(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


def batch_size() -> int:
    return max(1, min(mail.MAX_PERSONALIZATIONS, int(current_app.config["NOTIFY_BATCH_SIZE"])))


def backoff(attempts: int) -> float:
    """Seconds before retrying a batch that failed for the `attempts`-th time (no Retry-After)."""
    base = float(_setting("NOTIFY_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS))
    return min(base * 2 ** max(0, attempts - 1), MAX_BACKOFF_SECONDS)


# -- the circuit breaker ----------------------------------------------------------------------


def _breaker(lock: bool = False) -> CircuitBreaker:
    """The "sendgrid" breaker row (created closed), locked until commit when `lock` (PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    statement = select(CircuitBreaker).where(CircuitBreaker.name == BREAKER)
    if lock and dialect == "postgresql":
        statement = statement.with_for_update()
    row = db.session.scalar(statement.execution_options(populate_existing=True))
    if row is None:
        # Two workers may both find no row: create it in a way that cannot collide.
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        db.session.execute(
            insert(CircuitBreaker)
            .values(name=BREAKER, state="closed", failures=0, updated_at=utcnow())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = db.session.scalar(statement.execution_options(populate_existing=True))
    return row


def circuit_state() -> dict[str, Any]:
    """The breaker as the dashboard and /health/ready show it."""
    row = db.session.get(CircuitBreaker, BREAKER)
    if row is None:
        return {"state": "closed", "failures": 0, "retry_at": None, "opened_at": None, "last_error": None}
    return {
        "state": row.state,
        "failures": row.failures,
        "retry_at": row.retry_at,
        "opened_at": row.opened_at,
        "last_error": row.last_error,
    }


def _may_call(now: datetime) -> tuple[bool, bool, str]:
    """Ask the breaker: (may call, is the half-open trial, state). Commits a transition to half-open."""
    row = _breaker(lock=True)
    state = row.state
    if state == "closed":
        db.session.commit()
        return True, False, state
    if row.retry_at is not None and row.retry_at > now:
        # open and cooling down, or half-open with another worker's trial under way
        db.session.commit()
        return False, False, state
    # Cool-down over (or an abandoned trial): this worker takes the one trial batch;
    # retry_at bounds the trial, so a worker killed during it does not block sending forever.
    row.state = "half_open"
    row.retry_at = now + LEASE
    db.session.commit()
    log.info("mail circuit half-open: one trial batch")
    return True, True, "half_open"


def _record_call(ok: bool, error: str | None, now: datetime) -> CircuitBreaker | None:
    """Count a call's outcome in the current transaction; the breaker when this failure opened it."""
    row = _breaker(lock=True)
    if ok:
        row.state, row.failures, row.retry_at, row.opened_at = "closed", 0, None, None
        return None
    row.failures += 1
    row.last_error = (error or "")[:1000]
    threshold = int(current_app.config["CIRCUIT_FAILURE_THRESHOLD"])
    if row.state == "half_open" or (row.state == "closed" and row.failures >= threshold):
        row.state = "open"
        row.opened_at = now
        row.retry_at = now + timedelta(seconds=int(current_app.config["CIRCUIT_COOLDOWN_SECONDS"]))
        audit.record("mail.circuit_open", SYSTEM, f"circuit:{BREAKER}",
                     {"failures": row.failures, "retry_at": row.retry_at, "error": row.last_error})
        return row
    return None


# -- recovering crashed hand-offs ---------------------------------------------------------------


def mark_uncertain(now: datetime | None = None) -> int:
    """Rows `sending` for longer than LEASE (their worker died mid-call) become `uncertain`, never resent."""
    now = now or utcnow()
    stale = claim(
        select(Delivery).where(Delivery.status == "sending", Delivery.not_before < now - LEASE)
        .order_by(Delivery.id)
    )
    if not stale:
        db.session.commit()
        return 0
    for row in stale:
        row.status = "uncertain"
        row.last_error = "worker stopped during the API call; not resent (at most once)"
    batches = sorted({row.batch_id for row in stale if row.batch_id})
    audit.record("notify.uncertain", SYSTEM, None, {"deliveries": len(stale), "batches": batches})
    db.session.commit()
    log.warning("%d deliveries left sending by a stopped worker are now uncertain", len(stale))
    return len(stale)


# -- claiming a batch -----------------------------------------------------------------------------


def _flapped_windows(window_ids: set[int]) -> set[int]:
    """The windows, among `window_ids`, after whose end another window has started."""
    if not window_ids:
        return set()
    now = utcnow()
    later = MaintenanceWindow.__table__.alias("later")
    ended = MaintenanceWindow.__table__.alias("ended")
    began = func.coalesce(later.c.started_at, later.c.starts_at)
    rows = db.session.execute(
        select(ended.c.id).where(
            ended.c.id.in_(window_ids),
            select(later.c.id).where(
                later.c.id != ended.c.id,
                later.c.status.in_([Status.ACTIVE.value, Status.COMPLETED.value, Status.SCHEDULED.value]),
                began >= ended.c.ended_at,
                began <= now,
            ).exists(),
        )
    )
    return {row[0] for row in rows}


def _due(now: datetime):
    return and_(Delivery.status == "queued", Delivery.not_before <= now)


def _groups(now: datetime) -> list[tuple[int, str]]:
    """The (window, language) pairs with due deliveries: one email body per pair."""
    rows = db.session.execute(
        select(Delivery.window_id, Subscriber.language)
        .join(Subscriber, Delivery.subscriber_id == Subscriber.id)
        .where(_due(now)).distinct()
    )
    return sorted({(window_id, language or "en") for window_id, language in rows})


@dataclass
class Batch:
    batch_id: str
    language: str
    window_id: int
    recipients: list[mail.Recipient]
    # Delivery id per address (an address appears once per window), to record each recipient's outcome.
    rows: dict[str, int] = field(default_factory=dict)


@dataclass
class Outcome:
    """What the calls for one batch did: accepted and refused recipients, and an error for the rest."""

    sent: set[str] = field(default_factory=set)
    refused: dict[str, mail.MailError] = field(default_factory=dict)
    error: mail.MailError | None = None  # for every recipient neither sent nor refused
    calls: int = 0


def _claim_batch(window_id: int, language: str, now: datetime, report: PassReport) -> Batch | None:
    """Claim up to a batch of a window's due deliveries in `language`; skip the ones not to send,
    mark the rest `sending` and COMMIT. None when nothing is due there."""
    from . import subscriptions

    in_language = select(Subscriber.id).where(
        Subscriber.language == language if language != "en"
        else or_(Subscriber.language == "en", Subscriber.language.is_(None))
    )
    rows = claim(
        select(Delivery)
        .where(_due(now), Delivery.window_id == window_id, Delivery.subscriber_id.in_(in_language))
        .order_by(Delivery.id),
        batch_size(),
    )
    if not rows:
        db.session.commit()
        return None
    subscribers = {
        s.id: s for s in db.session.scalars(
            select(Subscriber).where(Subscriber.id.in_({row.subscriber_id for row in rows}))
        )
    }
    windows = {
        w.id: w for w in db.session.scalars(
            select(MaintenanceWindow).where(MaintenanceWindow.id.in_({row.window_id for row in rows}))
        )
    }
    flapped = _flapped_windows({w.id for w in windows.values() if w.ended_at is not None})
    batch = Batch(str(uuid.uuid4()), language, window_id, [])
    for row in rows:
        subscriber = subscribers.get(row.subscriber_id)
        window = windows.get(row.window_id)
        reason = None
        if subscriber is None or subscriber.email is None or subscriber.erased_at is not None:
            reason = "subscriber erased"
        elif subscriber.unsubscribed_at is not None:
            reason = "unsubscribed"
        elif window is None or window.ended_at is None:
            reason = "window has not ended"
        elif window.id in flapped:
            reason = "a new window started after this one ended"
        if reason is not None:
            row.status, row.last_error = "skipped", reason
            report.skipped += 1
            continue
        row.status = "sending"
        row.batch_id = batch.batch_id
        row.not_before = now  # the lease starts now (see the module's docstring)
        row.attempts += 1
        batch.recipients.append(mail.Recipient(subscriber.email, subscriptions.unsubscribe_url(subscriber)))
        batch.rows[subscriber.email] = row.id
    db.session.commit()  # the hand-off: from here on these rows are this worker's, sent at most once
    return batch


# -- sending ---------------------------------------------------------------------------------------


# A 400 for a reason that is not one address (e.g. the sender) would halve down to single
# recipients: bound the calls spent isolating, then fail what is left with that 400.
MAX_ISOLATION_CALLS = 40


def _send_one(message: mail.Message, batch_id: str) -> mail.MailError | None:
    try:
        mail.send(message)
    except mail.MailError as error:
        return error
    except Exception as error:  # a bug or an unexpected client error: retried, and counted by the breaker
        log.exception("sending batch %s failed", batch_id)
        return mail.MailError(f"{type(error).__name__}: {error}", retryable=True)
    return None


def _named_personalizations(error: mail.MailError, count: int) -> set[int]:
    """The personalization indexes a SendGrid 400 names (`"field": "personalizations.3.to.0.email"`)."""
    named = set()
    for field_path in error.fields:
        parts = (field_path or "").split(".")
        if len(parts) > 1 and parts[0] == "personalizations" and parts[1].isdigit() and int(parts[1]) < count:
            named.add(int(parts[1]))
    return named


def _send_isolating(message: mail.Message, batch_id: str) -> Outcome:
    """Send `message`; on a 400 set aside the refused recipients and send the others (see the docstring)."""
    outcome = Outcome()
    parts = [list(message.recipients)]
    while parts:
        part = parts.pop(0)
        error = _send_one(replace(message, recipients=part), batch_id)
        outcome.calls += 1
        if error is None:
            outcome.sent.update(recipient.email for recipient in part)
            continue
        if error.status != 400:  # not about an address: the untried recipients share this error
            outcome.error = error
            return outcome
        if len(part) == 1:
            outcome.refused[part[0].email] = error
            continue
        if outcome.calls >= MAX_ISOLATION_CALLS:
            outcome.refused.update((recipient.email, error) for recipient in part)
            continue
        named = _named_personalizations(error, len(part))
        if named:
            outcome.refused.update((part[index].email, error) for index in named)
            rest = [recipient for index, recipient in enumerate(part) if index not in named]
            if rest:
                parts.insert(0, rest)
        else:
            middle = len(part) // 2
            parts[:0] = [part[:middle], part[middle:]]
    if outcome.refused:
        log.warning("batch %s: SendGrid refused %d of %d recipients; the others were sent",
                    batch_id, len(outcome.refused), len(message.recipients))
    return outcome


def _send(batch: Batch) -> Outcome:
    try:
        window = db.session.get(MaintenanceWindow, batch.window_id)
        message = mail.back_online_message(window, batch.language, batch.recipients)
        db.session.commit()  # no transaction held open during the call
    except Exception as error:  # a bug: retried, and counted by the breaker
        log.exception("rendering batch %s failed", batch.batch_id)
        return Outcome(error=mail.MailError(f"{type(error).__name__}: {error}", retryable=True), calls=0)
    return _send_isolating(message, batch.batch_id)


def _record(batch: Batch, outcome: Outcome, report: PassReport,
            now: datetime) -> dict[str, Any] | None:
    """Record the answers for the batch's rows and the breaker, in one transaction; the breaker's
    details when this call opened it."""
    error = outcome.error
    sent = {batch.rows[email] for email in outcome.sent if email in batch.rows}
    refused = {batch.rows[email]: str(problem) for email, problem in outcome.refused.items()
               if email in batch.rows}
    now = max(now, utcnow())  # the pass's clock, or later: the call took time
    rows = list(db.session.scalars(
        select(Delivery).where(Delivery.batch_id == batch.batch_id, Delivery.status == "sending")
        .execution_options(populate_existing=True)
    ))
    max_attempts = int(_setting("NOTIFY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    for row in rows:
        if row.id in sent:
            row.status, row.sent_at, row.last_error = "sent", now, None
            report.sent += 1
        elif row.id in refused:  # SendGrid refused this recipient: trying again cannot help
            row.status, row.last_error = "failed", refused[row.id][:1000]
            report.failed += 1
        elif error is None:
            row.status, row.sent_at, row.last_error = "sent", now, None
            report.sent += 1
        elif error.retryable and row.attempts < max_attempts:
            delay = error.retry_after if error.retry_after is not None else backoff(row.attempts)
            row.status, row.not_before, row.last_error = "queued", now + timedelta(seconds=delay), str(error)
            report.retried += 1
        else:
            row.status, row.last_error = "failed", str(error)
            report.failed += 1
    breaker = _record_call(error is None, None if error is None else str(error), now)
    opened = None if breaker is None else {
        "name": breaker.name, "opened_at": breaker.opened_at.isoformat(),
        "retry_at": breaker.retry_at.isoformat(), "error": breaker.last_error,
    }
    db.session.commit()
    return opened


def send_due_deliveries(
    now: datetime | None = None,
    *,
    max_batches: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PassReport:
    """Send what is due, batch after batch, until nothing is due, a call fails or the worker stops."""
    now = now or utcnow()
    report = PassReport()
    report.uncertain = mark_uncertain(now)
    report.circuit = circuit_state()["state"]
    done = 0
    while max_batches is None or done < max_batches:
        if should_stop is not None and should_stop():
            break
        groups = _groups(now)
        db.session.commit()
        if not groups:
            break
        progressed = False
        for window_id, language in groups:
            allowed, trial, report.circuit = _may_call(now)
            if not allowed:
                return report
            batch = _claim_batch(window_id, language, now, report)
            if batch is None:
                if trial:
                    _give_back_trial()
                continue
            progressed = True
            if not batch.recipients:  # every row claimed was skipped
                if trial:
                    _give_back_trial()
                continue
            outcome = _send(batch)
            error = outcome.error
            report.calls += max(1, outcome.calls)
            done += 1
            opened = _record(batch, outcome, report, now)
            if opened:
                report.circuit = "open"
                log.warning("mail circuit opened until %s after: %s", opened["retry_at"], error)
                hooks.emit("mail.circuit_open", None, **opened)  # after the commit, like every hook
            if error is not None:
                report.errors.append(str(error))
                return report  # a failed call ends the pass: the backoff or the breaker decides when next
            report.circuit = "closed"
            if max_batches is not None and done >= max_batches:
                return report
        if not progressed:
            break
    return report


def _give_back_trial() -> None:
    """The half-open trial found nothing to send: let the next due batch be the trial, now."""
    row = _breaker(lock=True)
    if row.state == "half_open":
        row.retry_at = None
    db.session.commit()


# -- the dashboard, health and the "notify now" button ---------------------------------------------


def notify_now(window_id: int, actor: Actor) -> int:
    """Send a window's queued deliveries at the next worker pass instead of after the delay."""
    window = db.session.get(MaintenanceWindow, window_id)
    if window is None:
        raise NotFound("No such maintenance window.")
    now = utcnow()
    result = db.session.execute(
        update(Delivery)
        .where(Delivery.window_id == window_id, Delivery.status == "queued", Delivery.not_before > now)
        .values(not_before=now)
        .execution_options(synchronize_session=False)
    )
    moved = result.rowcount or 0
    audit.record("notify.sent_now", actor, f"window:{window_id}", {"deliveries": moved})
    db.session.commit()
    return moved


def last_ended_window() -> MaintenanceWindow | None:
    return db.session.scalar(
        select(MaintenanceWindow).where(MaintenanceWindow.ended_at.is_not(None))
        .order_by(MaintenanceWindow.ended_at.desc(), MaintenanceWindow.id.desc()).limit(1)
    )


def progress(window_id: int | None = None) -> dict[str, Any]:
    """Delivery counts by status for a window (default: the last one that ended) and the breaker."""
    window = db.session.get(MaintenanceWindow, window_id) if window_id else last_ended_window()
    counts = dict.fromkeys(STATUSES, 0)
    next_at = None
    if window is not None:
        for status, count in db.session.execute(
            select(Delivery.status, func.count()).where(Delivery.window_id == window.id)
            .group_by(Delivery.status)
        ):
            counts[status] = count
        next_at = db.session.scalar(
            select(func.min(Delivery.not_before)).where(
                Delivery.window_id == window.id, Delivery.status == "queued"
            )
        )
    return {
        "window": window,
        "counts": counts,
        "total": sum(counts.values()),
        "next_at": next_at,
        "circuit": circuit_state(),
    }


def queue_depth() -> int:
    """Deliveries waiting to be sent (queued, due or not)."""
    return db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status == "queued")
    ) or 0


def uncertain_count() -> int:
    return db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.status == "uncertain")
    ) or 0
