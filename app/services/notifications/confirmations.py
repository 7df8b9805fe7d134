"""The double opt-in's confirmation emails to standing subscribers (docs/notices.md)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from ... import mail
from ...extensions import db
from ...models import StandingSubscriber, utcnow
from .. import subscriptions
from ..claims import claim
from .batches import (
    DEFAULT_MAX_ATTEMPTS,
    PassReport,
    backoff,
    batch_size,
    email_language,
    send_isolating,
    setting,
)
from .breaker import give_back_trial, may_call, record_call


def send_confirmations(now: datetime | None = None) -> PassReport:
    """Send the owed confirmation emails, a batch per language; retried with back-off, through the breaker."""
    now = now or utcnow()
    report = PassReport()
    max_attempts = int(setting("NOTIFY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
    while True:
        allowed, trial, report.circuit = may_call(now)
        if not allowed:
            return report
        rows = claim(
            select(StandingSubscriber).where(
                StandingSubscriber.status == subscriptions.PENDING_STATUS,
                StandingSubscriber.confirm_due_at <= now, StandingSubscriber.email.is_not(None),
            ).order_by(StandingSubscriber.id),
            batch_size(),
        )
        if not rows:
            db.session.commit()
            if trial:
                give_back_trial()
            return report
        language = email_language(rows[0].language)
        rows = [row for row in rows if email_language(row.language) == language]
        recipients = []
        for row in rows:
            row.confirm_due_at, row.confirm_sent_at = None, now
            row.confirm_attempts += 1
            recipients.append(mail.Recipient(row.email, subscriptions.standing_unsubscribe_url(row.id),
                                             confirm_url=subscriptions.confirm_url(row.id)))
        ids = {row.email: row.id for row in rows}
        db.session.commit()
        outcome = send_isolating(mail.confirm_message(language, recipients), "confirmations")
        report.calls += max(1, outcome.calls)
        error = outcome.error
        for address, subscriber_id in ids.items():
            row = db.session.get(StandingSubscriber, subscriber_id, populate_existing=True)
            if address in outcome.sent or (error is None and address not in outcome.refused):
                report.sent += 1
            elif error is not None and error.retryable and row.confirm_attempts < max_attempts:
                delay = error.retry_after or backoff(row.confirm_attempts)
                row.confirm_due_at = now + timedelta(seconds=delay)
                report.retried += 1
            else:
                report.failed += 1
        record_call(error is None, None if error is None else str(error), now)
        db.session.commit()
        if error is not None:
            report.errors.append(str(error))
            return report
