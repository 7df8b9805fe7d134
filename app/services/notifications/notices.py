"""Notices about every window to standing subscribers (docs/notices.md): claim, send, record, count."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pausa_gate.state import SYSTEM, Status
from sqlalchemy import func, or_, select

from ... import hooks, mail
from ...extensions import db
from ...i18n import LANGUAGES, default_language
from ...models import MaintenanceWindow, Notice, StandingSubscriber, utcnow
from .. import audit, subscriptions
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

# The same machinery as the "we're back" emails: claim with SKIP LOCKED, commit `sending` before
# the call, one call per (window, kind, language) batch, the shared breaker, back-off, `uncertain`.

NOTICE_TOLD = ("sent", "uncertain")  # a notice that may have reached its subscriber
TOLD_ONLY = ("changed", "cancelled", "ended")  # sent only to those who heard of the window before
DEFER = timedelta(seconds=30)


def _notice_groups(now: datetime) -> list[tuple[int, str, str]]:
    """The (window, kind, language) triples with due notices: one email body per triple."""
    rows = db.session.execute(
        select(Notice.window_id, Notice.kind, StandingSubscriber.language)
        .join(StandingSubscriber, Notice.standing_subscriber_id == StandingSubscriber.id)
        .where(Notice.status == "queued", Notice.not_before <= now).distinct()
    )
    return sorted({(window_id, kind, email_language(language)) for window_id, kind, language in rows})


def _window_reason(window: MaintenanceWindow | None, kind: str, now: datetime) -> str | None:
    """Why no notice of `kind` about `window` should go out now, or None."""
    base = mail.notice_base_kind(kind)
    if window is None:
        return "window removed"
    if base in ("scheduled", "reminder") and window.status != Status.SCHEDULED.value:
        return f"window is {window.status}"
    if base == "reminder" and window.starts_at <= now:
        return "window has started"
    if base == "changed" and window.status not in (Status.SCHEDULED.value, Status.ACTIVE.value):
        return f"window is {window.status}"
    if base == "started" and window.ended_at is not None:
        return "window ended before the notice went out"
    if base == "ended" and window.id in flapped_windows({window.id}):
        return "a new window started after this one ended"
    return None


def _told(window_id: int, kind: str, subscriber_ids: set[int]) -> tuple[set[int], set[int]]:
    """Of `subscriber_ids`: who may have heard of the window already, and whose notice is in flight."""
    rows = db.session.execute(
        select(Notice.standing_subscriber_id, Notice.status).where(
            Notice.window_id == window_id, Notice.kind != kind,
            Notice.standing_subscriber_id.in_(subscriber_ids),
            Notice.status.in_((*NOTICE_TOLD, "sending")),
        )
    )
    told, in_flight = set(), set()
    for subscriber_id, status in rows:
        (in_flight if status == "sending" else told).add(subscriber_id)
    return told, in_flight - told


def _claim_notices(window_id: int, kind: str, language: str, now: datetime,
                   report: PassReport) -> Batch | None:
    """Claim a batch of one (window, kind, language); skip or defer the ones not to send; COMMIT."""
    in_language = select(StandingSubscriber.id).where(_standing_in_language(language))
    rows = claim(
        select(Notice).where(
            Notice.status == "queued", Notice.not_before <= now, Notice.window_id == window_id,
            Notice.kind == kind, Notice.standing_subscriber_id.in_(in_language),
        ).order_by(Notice.id),
        batch_size(),
    )
    if not rows:
        db.session.commit()
        return None
    subscribers = {s.id: s for s in db.session.scalars(
        select(StandingSubscriber)
        .where(StandingSubscriber.id.in_({row.standing_subscriber_id for row in rows}))
    )}
    window = db.session.get(MaintenanceWindow, window_id, populate_existing=True)
    window_reason = _window_reason(window, kind, now)
    told, in_flight = set(), set()
    if window_reason is None and mail.notice_base_kind(kind) in TOLD_ONLY:
        # A correction (or "it is over") goes only to those who heard of the window, so they are
        # not told of a change, a calling-off or an end of something they never knew of.
        told, in_flight = _told(window_id, kind, set(subscribers))
    batch = Batch(str(uuid.uuid4()), language, window_id, [])
    for row in rows:
        subscriber = subscribers.get(row.standing_subscriber_id)
        reason = window_reason
        if subscriber is None or subscriber.email is None or subscriber.status != subscriptions.CONFIRMED:
            reason = "unsubscribed"
        elif reason is None and mail.notice_base_kind(kind) in TOLD_ONLY:
            if subscriber.id in in_flight:  # its earlier notice is being sent: decide once it is recorded
                row.not_before = now + DEFER
                continue
            if subscriber.id not in told:
                reason = "was never told about this window"
        if reason is not None:
            row.status, row.last_error = "skipped", reason
            report.skipped += 1
            continue
        row.status, row.batch_id, row.not_before = "sending", batch.batch_id, now
        row.attempts += 1
        batch.recipients.append(mail.Recipient(
            subscriber.email, subscriptions.standing_unsubscribe_url(subscriber.id), one_click=True
        ))
        batch.rows[subscriber.email] = row.id
    db.session.commit()  # the hand-off: from here on these rows are this worker's, sent at most once
    return batch


def _standing_in_language(language: str) -> Any:
    if language != default_language():
        return StandingSubscriber.language == language
    return or_(StandingSubscriber.language == language, StandingSubscriber.language.is_(None),
               StandingSubscriber.language.not_in(list(LANGUAGES)))


def _record_notices(batch: Batch, outcome: Outcome, report: PassReport,
                    now: datetime) -> dict[str, Any] | None:
    """Record a notice batch's answers and the breaker in one transaction, as `record_batch` does."""
    return record_batch(batch, outcome, report, now, model=Notice)


def mark_uncertain_notices(now: datetime) -> int:
    """Notices `sending` for longer than LEASE (their worker died mid-call) become `uncertain`."""
    stale = claim(select(Notice).where(Notice.status == "sending", Notice.not_before < now - LEASE)
                  .order_by(Notice.id))
    for row in stale:
        row.status = "uncertain"
        row.last_error = "worker stopped during the API call; not resent (at most once)"
    if stale:
        audit.record("notify.uncertain", SYSTEM, None, {"notices": len(stale)})
    db.session.commit()
    return len(stale)


def send_due_notices(now: datetime | None = None, *,
                     should_stop: Callable[[], bool] | None = None) -> PassReport:
    """Send the due notices, batch after batch, until nothing is due, a call fails or the worker stops."""
    now = now or utcnow()
    report = PassReport()
    report.uncertain = mark_uncertain_notices(now)
    report.circuit = circuit_state()["state"]
    while not (should_stop is not None and should_stop()):
        groups = _notice_groups(now)
        db.session.commit()
        progressed = False
        for window_id, kind, language in groups:
            allowed, trial, report.circuit = may_call(now)
            if not allowed:
                return report
            batch = _claim_notices(window_id, kind, language, now, report)
            if batch is None or not batch.recipients:
                if trial:
                    give_back_trial()
                progressed = progressed or batch is not None
                continue
            progressed = True
            try:
                window = db.session.get(MaintenanceWindow, window_id)
                message = mail.notice_message(window, kind, language, batch.recipients)
                db.session.commit()
                outcome = send_isolating(message, batch.batch_id)
            except Exception as error:  # a bug in rendering: retried, and counted by the breaker
                log.exception("rendering notice batch %s failed", batch.batch_id)
                outcome = Outcome(error=mail.MailError(f"{type(error).__name__}: {error}", retryable=True))
            report.calls += max(1, outcome.calls)
            opened = _record_notices(batch, outcome, report, now)
            if opened:
                report.circuit = "open"
                hooks.emit("mail.circuit_open", None, **opened)
            if outcome.error is not None:
                report.errors.append(str(outcome.error))
                return report
            report.circuit = "closed"
        if not progressed:
            break
    return report


def notice_counts(limit: int = 5) -> list[dict[str, Any]]:
    """Notices per window and kind, by status, for the latest `limit` windows that have any."""
    window_ids = [row[0] for row in db.session.execute(
        select(Notice.window_id).group_by(Notice.window_id).order_by(Notice.window_id.desc()).limit(limit)
    )]
    if not window_ids:
        return []
    windows = {w.id: w for w in db.session.scalars(
        select(MaintenanceWindow).where(MaintenanceWindow.id.in_(window_ids)))}
    table: dict[tuple[int, str], dict[str, int]] = {}
    for window_id, kind, status, count in db.session.execute(
        select(Notice.window_id, Notice.kind, Notice.status, func.count())
        .where(Notice.window_id.in_(window_ids)).group_by(Notice.window_id, Notice.kind, Notice.status)
    ):
        table.setdefault((window_id, kind), dict.fromkeys(STATUSES, 0))[status] = count
    return [
        {"window": windows.get(window_id), "kind": kind, "counts": counts}
        for (window_id, kind), counts in sorted(table.items(), key=lambda item: (-item[0][0], item[0][1]))
    ]


def notice_previews(language: str) -> tuple[MaintenanceWindow | None, dict[str, mail.Message]]:
    """Each notice kind as subscribers would get it (text and HTML) about the next window, else the last."""
    window = db.session.scalar(
        select(MaintenanceWindow).where(MaintenanceWindow.status == Status.SCHEDULED.value)
        .order_by(MaintenanceWindow.starts_at).limit(1)
    ) or db.session.scalar(select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc()).limit(1))
    if window is None:
        return None, {}
    return window, {kind: mail.notice_message(window, kind, language, []) for kind in mail.NOTICE_KINDS}
