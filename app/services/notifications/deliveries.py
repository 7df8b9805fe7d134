"""The "we're back" emails to a window's subscribers: recover, claim, send, record; and their dashboard."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pausa_gate.state import SYSTEM, Actor
from sqlalchemy import and_, func, or_, select, update

from ... import hooks, mail
from ...extensions import db
from ...i18n import LANGUAGES, default_language
from ...models import Delivery, MaintenanceWindow, Subscriber, utcnow
from .. import NotFound, audit, subscriptions
from ..claims import claim
from .batches import (
    STATUSES,
    Batch,
    Outcome,
    PassReport,
    batch_size,
    email_language,
    flapped_windows,
    record_batch,
    send_isolating,
)
from .breaker import LEASE, circuit_state, give_back_trial, may_call

log = logging.getLogger("pausa.notifications")

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


def _due(now: datetime):
    return and_(Delivery.status == "queued", Delivery.not_before <= now)


def _in_language(language: str) -> Any:
    """Which subscribers get their email in `language` (the operator's takes those of no known language)."""
    if language != default_language():
        return Subscriber.language == language
    return or_(Subscriber.language == language, Subscriber.language.is_(None),
               Subscriber.language.not_in(list(LANGUAGES)))


def _groups(now: datetime) -> list[tuple[int, str]]:
    """The (window, language) pairs with due deliveries: one email body per pair."""
    rows = db.session.execute(
        select(Delivery.window_id, Subscriber.language)
        .join(Subscriber, Delivery.subscriber_id == Subscriber.id)
        .where(_due(now)).distinct()
    )
    return sorted({(window_id, email_language(language)) for window_id, language in rows})


def _claim_batch(window_id: int, language: str, now: datetime, report: PassReport) -> Batch | None:
    """Claim up to a batch of a window's due deliveries in `language`; skip the ones not to send,
    mark the rest `sending` and COMMIT. None when nothing is due there."""
    in_language = select(Subscriber.id).where(_in_language(language))
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
    flapped = flapped_windows({w.id for w in windows.values() if w.ended_at is not None})
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
        row.not_before = now  # the lease starts now (see the package docstring)
        row.attempts += 1
        batch.recipients.append(mail.Recipient(subscriber.email, subscriptions.unsubscribe_url(subscriber)))
        batch.rows[subscriber.email] = row.id
    db.session.commit()  # the hand-off: from here on these rows are this worker's, sent at most once
    return batch


def _send(batch: Batch) -> Outcome:
    try:
        window = db.session.get(MaintenanceWindow, batch.window_id)
        message = mail.back_online_message(window, batch.language, batch.recipients)
        db.session.commit()  # no transaction held open during the call
    except Exception as error:  # a bug: retried, and counted by the breaker
        log.exception("rendering batch %s failed", batch.batch_id)
        return Outcome(error=mail.MailError(f"{type(error).__name__}: {error}", retryable=True), calls=0)
    return send_isolating(message, batch.batch_id)


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
            allowed, trial, report.circuit = may_call(now)
            if not allowed:
                return report
            batch = _claim_batch(window_id, language, now, report)
            if batch is None:
                if trial:
                    give_back_trial()
                continue
            progressed = True
            if not batch.recipients:  # every row claimed was skipped
                if trial:
                    give_back_trial()
                continue
            outcome = _send(batch)
            error = outcome.error
            report.calls += max(1, outcome.calls)
            done += 1
            opened = record_batch(batch, outcome, report, now)
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
