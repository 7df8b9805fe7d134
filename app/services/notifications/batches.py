"""What every email pass shares: the batch, sending it (refused addresses set aside), recording answers."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import Status
from sqlalchemy import func, select

from ... import mail
from ...extensions import db
from ...i18n import LANGUAGES, default_language
from ...models import Delivery, MaintenanceWindow, Notice, utcnow
from .breaker import record_call

log = logging.getLogger("pausa.notifications")

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


def setting(name: str, default: Any) -> Any:
    return current_app.config.get(name, default)


def batch_size() -> int:
    return max(1, min(mail.MAX_PERSONALIZATIONS, int(current_app.config["NOTIFY_BATCH_SIZE"])))


def backoff(attempts: int) -> float:
    """Seconds before retrying a batch that failed for the `attempts`-th time (no Retry-After)."""
    base = float(setting("NOTIFY_BACKOFF_SECONDS", DEFAULT_BACKOFF_SECONDS))
    return min(base * 2 ** max(0, attempts - 1), MAX_BACKOFF_SECONDS)


def flapped_windows(window_ids: set[int]) -> set[int]:
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


def email_language(language: str | None) -> str:
    """The language a subscriber's email is written in: theirs if Pausa speaks it, else the operator's."""
    return language if language in LANGUAGES else default_language()


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


def send_isolating(message: mail.Message, batch_id: str) -> Outcome:
    """Send `message`; on a 400 set aside the refused recipients and send the others (package docstring)."""
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


def record_batch(batch: Batch, outcome: Outcome, report: PassReport,
            now: datetime, model: type[Delivery] | type[Notice] = Delivery) -> dict[str, Any] | None:
    """Record the answers for the batch's rows (deliveries, or notices) and the breaker, in one
    transaction; the breaker's details when this call opened it."""
    error = outcome.error
    sent = {batch.rows[email] for email in outcome.sent if email in batch.rows}
    refused = {batch.rows[email]: str(problem) for email, problem in outcome.refused.items()
               if email in batch.rows}
    now = max(now, utcnow())  # the pass's clock, or later: the call took time
    rows = list(db.session.scalars(
        select(model).where(model.batch_id == batch.batch_id, model.status == "sending")
        .execution_options(populate_existing=True)
    ))
    max_attempts = int(setting("NOTIFY_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS))
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
    breaker = record_call(error is None, None if error is None else str(error), now)
    opened = None if breaker is None else {
        "name": breaker.name, "opened_at": breaker.opened_at.isoformat(),
        "retry_at": breaker.retry_at.isoformat(), "error": breaker.last_error,
    }
    db.session.commit()
    return opened
