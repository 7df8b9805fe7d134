"""Standing subscribers (docs/notices.md): double opt-in, confirm, unsubscribe, forget, counts."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from pausa_gate.windows import utcnow
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ... import mail
from ...extensions import db
from ...models import Notice, StandingSubscriber
from .addresses import EmailDisabled, email_hash, normalise_email
from .links import read_confirm_token

PENDING_STATUS, CONFIRMED, UNSUBSCRIBED = "pending", "confirmed", "unsubscribed"
STANDING_STATUSES = (PENDING_STATUS, CONFIRMED, UNSUBSCRIBED)


def subscribe_standing(raw_email: str, language: str, now: datetime | None = None) -> str:
    """Ask for notices about every window; return the normalised address (raises InvalidEmail).

    The answer and the work are the same whatever the address's state, so the form tells nobody
    whether it was already subscribed: a new or unsubscribed address becomes pending and is owed
    one confirmation email; a pending one is owed it again at most every
    NOTICE_CONFIRM_RESEND_MINUTES; a confirmed one gets nothing. The worker sends it.
    """
    if not mail.email_enabled():
        raise EmailDisabled("Email notifications are switched off on this site.")
    now = now or utcnow()
    email = normalise_email(raw_email)
    digest = email_hash(email)
    row = db.session.scalar(
        select(StandingSubscriber).where(StandingSubscriber.email_hash == digest).with_for_update()
    )
    if row is None:
        row = StandingSubscriber(email=email, email_hash=digest, language=language[:8], status=PENDING_STATUS,
                                 confirm_due_at=now, confirm_attempts=0, created_at=now)
        db.session.add(row)
        try:
            db.session.commit()
        except IntegrityError:  # the same address, at the same moment, from another request
            db.session.rollback()
        return email
    resend = timedelta(minutes=int(current_app.config["NOTICE_CONFIRM_RESEND_MINUTES"]))
    if row.status == UNSUBSCRIBED:
        row.status, row.email, row.language = PENDING_STATUS, email, language[:8]
        row.unsubscribed_at = None
    if row.status == PENDING_STATUS and row.confirm_due_at is None and (
        row.confirm_sent_at is None or row.confirm_sent_at <= now - resend
    ):
        row.confirm_due_at, row.confirm_attempts, row.language = now, 0, language[:8]
    db.session.commit()
    return email


def confirm_standing(token: str, now: datetime | None = None) -> str | None:
    """Confirm the subscription a link names; "confirmed" (also the second time), else None.

    An expired or forged link, or one for an address that has since unsubscribed, confirms nothing.
    """
    now = now or utcnow()
    subscriber_id = read_confirm_token(token, now)
    if subscriber_id is None:
        return None
    row = db.session.get(StandingSubscriber, subscriber_id, with_for_update=True)
    if row is None or row.status == UNSUBSCRIBED:
        db.session.rollback()
        return None
    if row.status == PENDING_STATUS:
        row.status, row.confirmed_at, row.confirm_due_at = CONFIRMED, now, None
    db.session.commit()
    return CONFIRMED


def unsubscribe_standing(subscriber_id: int, now: datetime | None = None) -> bool:
    """Stop every notice to a standing subscriber and forget the address (the hash stays). Idempotent.

    Returns False when there is no such subscriber.
    """
    now = now or utcnow()
    row = db.session.get(StandingSubscriber, subscriber_id, with_for_update=True)
    if row is None:
        db.session.rollback()
        return False
    if row.status != UNSUBSCRIBED:
        row.status, row.unsubscribed_at, row.email, row.confirm_due_at = UNSUBSCRIBED, now, None, None
    db.session.execute(
        update(Notice)
        .where(Notice.standing_subscriber_id == subscriber_id, Notice.status == "queued")
        .values(status="skipped", last_error="unsubscribed")
    )
    db.session.commit()
    return True


def erase_unconfirmed_standing(now: datetime | None = None) -> int:
    """Forget pending addresses whose confirmation link has expired and that are owed nothing more.

    They become `unsubscribed` without an address (the hash stays, like an unsubscribe). No audit
    entry: subscribing is anonymous and never audited (see the package's docstring).
    """
    now = now or utcnow()
    expired = now - timedelta(hours=int(current_app.config["NOTICE_CONFIRM_HOURS"]))
    result = db.session.execute(
        update(StandingSubscriber)
        .where(StandingSubscriber.status == PENDING_STATUS, StandingSubscriber.confirm_due_at.is_(None),
               StandingSubscriber.confirm_sent_at < expired)
        .values(status=UNSUBSCRIBED, email=None, unsubscribed_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return max(result.rowcount or 0, 0)


def standing_counts() -> dict[str, int]:
    """Standing subscribers by status, for the dashboard."""
    counts = dict(db.session.execute(
        select(StandingSubscriber.status, func.count()).group_by(StandingSubscriber.status)
    ).all())
    return {status: counts.get(status, 0) for status in STANDING_STATUSES}
