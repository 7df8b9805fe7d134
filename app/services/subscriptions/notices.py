"""Queueing notices to standing subscribers, in the transaction of the window's change (docs/notices.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from pausa_gate.state import Status
from pausa_gate.windows import utcnow
from sqlalchemy import String, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ... import hooks, mail
from ...extensions import db
from ...models import MaintenanceWindow, Notice, NoticeRound, StandingSubscriber, UTCDateTime
from .. import webhook_subscribers
from .standing import CONFIRMED

# The times a notice shows: a change to any of them is worth a "changed" notice; nothing else is.
PUBLIC_TIMES = ("starts_at", "eta", "ends_at")
# How long before its start an occurrence of a recurring window is announced to subscribers.
OCCURRENCE_ANNOUNCED_AHEAD = timedelta(days=7)


def _insert(table: Any) -> Any:
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"queueing notices does not support the {dialect} dialect")  # pragma: no cover


def queue_notices(window: MaintenanceWindow, kind: str, now: datetime,
                  not_before: datetime | None = None, **details: Any) -> int:
    """Queue a notice of `kind` about `window` for every confirmed subscriber; the caller commits.

    One INSERT … SELECT; ON CONFLICT on the unique (subscriber, window, kind) leaves a notice
    already owed alone, so each is queued, and therefore sent, at most once. The round row records
    that this kind was queued for this window (the reminder and its hook happen once).
    The webhook subscribers' notice of the same kind is queued here too, in the same transaction
    (`details` go into its payload); their "changed" is queued by queue_change_notices.
    Returns the number of notices queued; -1 when this round had already been queued.
    """
    if not kind.startswith("changed"):
        webhook_subscribers.queue_notice(kind, window, now, **details)

    round_insert = _insert(NoticeRound.__table__).values(
        window_id=window.id, kind=kind, queued_at=now, recipients=0
    ).on_conflict_do_nothing(index_elements=["window_id", "kind"])
    if not (db.session.execute(round_insert.execution_options(preserve_rowcount=True)).rowcount or 0):
        return -1
    if not mail.email_enabled():
        return 0
    rows = select(
        StandingSubscriber.id,
        literal(window.id),
        literal(kind, String),
        literal("queued", String),
        literal(not_before or now, UTCDateTime),
        literal(0),
        literal(now, UTCDateTime),
    ).where(StandingSubscriber.status == CONFIRMED, StandingSubscriber.email.is_not(None))
    statement = _insert(Notice.__table__).from_select(
        ["standing_subscriber_id", "window_id", "kind", "status", "not_before", "attempts", "created_at"],
        rows,
    ).on_conflict_do_nothing(index_elements=["standing_subscriber_id", "window_id", "kind"])
    count = max(db.session.execute(statement.execution_options(preserve_rowcount=True)).rowcount or 0, 0)
    db.session.execute(
        update(NoticeRound).where(NoticeRound.window_id == window.id, NoticeRound.kind == kind)
        .values(recipients=count).execution_options(synchronize_session=False)
    )
    return count


def queue_end_notices(window: MaintenanceWindow, now: datetime) -> int:
    """Queue the "ended" notices, due NOTIFY_DELAY_SECONDS after the end like the "we're back"
    emails (a window that comes straight back is a flap: they are skipped); the caller commits."""
    delay = timedelta(seconds=int(current_app.config["NOTIFY_DELAY_SECONDS"]))
    not_before = (window.ended_at or now) + delay
    return max(queue_notices(window, "ended", now, not_before=not_before, how=window.ended_how), 0)


def queue_change_notices(window: MaintenanceWindow, changed: Any, now: datetime) -> int:
    """Queue a "changed" notice when a public time changed; the caller commits.

    Changes are gathered: the notice is due NOTICE_CHANGE_COALESCE_MINUTES after the first
    change, and changes until then ride along (it shows the times as they are when it is sent).
    After it went out, the next change opens the next round ("changed-2", "changed-3", …), each
    sent at most once per subscriber.
    """
    if not set(changed) & set(PUBLIC_TIMES):
        return 0
    # Webhook subscribers get each change at once, not gathered (docs/webhook-subscribers.md).
    webhook_subscribers.queue_notice("changed", window, now, changed=sorted(changed))
    if db.session.scalar(select(NoticeRound.id).where(NoticeRound.window_id == window.id).limit(1)) is None:
        return 0  # an occurrence not announced yet: its announcement will show the new times
    rounds = db.session.scalar(
        select(func.count()).select_from(NoticeRound)
        .where(NoticeRound.window_id == window.id, NoticeRound.kind.like("changed%"))
    ) or 0
    waiting = db.session.scalar(
        select(func.count()).select_from(Notice).where(
            Notice.window_id == window.id, Notice.kind.like("changed%"), Notice.status == "queued"
        )
    )
    if waiting:
        return 0
    kind = "changed" if rounds == 0 else f"changed-{rounds + 1}"
    delay = timedelta(minutes=int(current_app.config["NOTICE_CHANGE_COALESCE_MINUTES"]))
    return max(queue_notices(window, kind, now, not_before=now + delay), 0)


def queue_due_reminders(now: datetime | None = None) -> list[MaintenanceWindow]:
    """Queue the reminder of every scheduled window starting within NOTICE_REMINDER_MINUTES; commits.

    Once per window, whichever worker gets there (the round row); none for a window planned
    within that period (its "scheduled" notice came just before) or already started.
    Webhook subscribers' reminders are queued with them, in the same transaction; the
    `window.reminder` hook then runs for each, once, and they are returned.
    """
    now = now or utcnow()
    lead = timedelta(minutes=int(current_app.config["NOTICE_REMINDER_MINUTES"]))
    done = select(NoticeRound.id).where(NoticeRound.window_id == MaintenanceWindow.id,
                                        NoticeRound.kind == "reminder").exists()
    windows = list(db.session.scalars(
        select(MaintenanceWindow).where(
            MaintenanceWindow.status == Status.SCHEDULED.value,
            MaintenanceWindow.starts_at > now,
            MaintenanceWindow.starts_at <= now + lead,
            ~done,
        ).order_by(MaintenanceWindow.starts_at)
    ))
    queued = []
    for window in windows:
        if window.created_at > window.starts_at - lead:
            continue
        if queue_notices(window, "reminder", now) >= 0:
            queued.append(window)
    db.session.commit()
    for window in queued:
        hooks.emit("window.reminder", window)  # after the commit, once: the reminder round is unique
    return queued



def queue_due_announcements(now: datetime | None = None) -> list[MaintenanceWindow]:
    """Queue the "scheduled" notice of every occurrence of a recurring window starting within
    OCCURRENCE_ANNOUNCED_AHEAD; commits.

    A recurrence plans weeks ahead, so its occurrences are announced here, by the worker, a week
    before each, not at planning time: those who confirm in between hear of it too, and an
    occurrence moved earlier is announced on the next pass. Once per window (the round row);
    ordinary windows are announced when they are scheduled.
    """
    now = now or utcnow()
    done = select(NoticeRound.id).where(NoticeRound.window_id == MaintenanceWindow.id,
                                        NoticeRound.kind == "scheduled").exists()
    windows = list(db.session.scalars(
        select(MaintenanceWindow).where(
            MaintenanceWindow.status == Status.SCHEDULED.value,
            MaintenanceWindow.recurrence_id.is_not(None),
            MaintenanceWindow.starts_at > now,
            MaintenanceWindow.starts_at <= now + OCCURRENCE_ANNOUNCED_AHEAD,
            ~done,
        ).order_by(MaintenanceWindow.starts_at)
    ))
    queued = [window for window in windows if queue_notices(window, "scheduled", now) >= 0]
    db.session.commit()
    return queued
