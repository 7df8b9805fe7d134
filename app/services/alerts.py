"""Admin alerts: raised once per cause, sent once by email and/or Slack, audited.

An alert is a row of `admin_alerts` whose `cause` is unique ("overdue:window:3:<eta>",
"ceiling:window:3", "unplanned:window:3", "circuit:sendgrid:<opened_at>",
"dead_letter:<provider>:<event_id>"). `raise_alert` inserts it with
INSERT … ON CONFLICT DO NOTHING (PostgreSQL) / INSERT OR IGNORE (SQLite) and
audits `alert.raised` in the same transaction, so raising the same cause twice,
even from two processes at once, makes one row and one audit entry.

The worker task `send-admin-alerts` (app/tasks.py) sends the unsent ones:
each alert is claimed alone (FOR UPDATE SKIP LOCKED on PostgreSQL) and sent to
every configured channel — ADMIN_ALERT_EMAILS through app/mail.py, and
SLACK_WEBHOOK_URL (a Slack incoming webhook, POST {"text": …}) — with short
timeouts. Each channel that accepted it is audited (`alert.sent`, with the
channel) in that alert's transaction, so a retry only tries the channels that
failed. Failures back off exponentially from the alert's creation
(ALERT_RETRY_BASE_SECONDS doubling up to ALERT_RETRY_MAX_SECONDS) and the
alert is given up after ALERT_MAX_ATTEMPTS (audited `alert.failed`). A worker
that dies between a channel's answer and its commit sends that channel again:
at least once, and in practice once.

The hook handlers at the bottom turn window transitions into alerts; `register_hooks()`
(called by create_app) plugs them in next to the default logging hook.

Alerts are written in the operator's language (BABEL_DEFAULT_LOCALE), whoever's request raised
them: the summary once, when raised (the dashboard and the audit show the same text), the email's
subject and labels when sent.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import force_locale, gettext
from pausa_gate.state import SYSTEM
from pausa_gate.windows import utcnow
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from .. import hooks, mail
from ..extensions import db
from ..i18n import default_language
from ..maintenance.planned import is_within, parse_planned
from ..models import AdminAlert, AuditEntry
from . import audit
from .claims import claim

log = logging.getLogger("pausa.alerts")

KINDS = ("unplanned", "overdue", "ceiling", "circuit_open", "dead_letter", "backlog")
CHANNELS = ("email", "slack")
RETRY_BASE_SECONDS = 10.0
RETRY_MAX_SECONDS = 3600.0
MAX_ATTEMPTS = 15  # about ten hours of retries with the defaults
SLACK_TIMEOUT_SECONDS = 5.0
BATCH = 50


class AlertSendError(Exception):
    """A channel refused or did not answer."""


@contextmanager
def operator_language() -> Iterator[None]:
    """Write in the operator's language, not in the language of the request that raised the alert."""
    with force_locale(default_language()):
        yield


def _kind_label(kind: str) -> str:
    labels = {
        "unplanned": gettext("unplanned"),
        "overdue": gettext("overdue"),
        "ceiling": gettext("ceiling"),
        "circuit_open": gettext("circuit open"),
        "dead_letter": gettext("dead letter"),
        "backlog": gettext("backlog"),
    }
    return labels.get(kind, kind.replace("_", " "))


# -- raising ------------------------------------------------------------------------------


def raise_alert(cause: str, kind: str, summary: str, now: datetime | None = None) -> bool:
    """Record the alert for `cause` unless it exists; True if this call created it.

    Runs its own transaction (it commits, or rolls back when the cause is known):
    call it after your own changes are committed, as hooks are.
    """
    now = now or utcnow()
    cause = cause[:200]
    values = {"cause": cause, "kind": kind[:32], "summary": summary, "created_at": now,
              "attempts": 0}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(AdminAlert).values(**values).on_conflict_do_nothing(
            index_elements=["cause"]
        )
    elif dialect == "sqlite":
        statement = sqlite.insert(AdminAlert).values(**values).on_conflict_do_nothing(
            index_elements=["cause"]
        )
    else:  # pragma: no cover - Pausa runs on PostgreSQL and SQLite only
        raise RuntimeError(f"admin alerts do not support the {dialect} dialect")
    # RETURNING gives the new id, or no row when the cause was known (rowcount is not reliable here).
    alert_id = db.session.execute(statement.returning(AdminAlert.id)).scalar_one_or_none()
    if alert_id is None:
        db.session.rollback()
        log.debug("admin alert %s already raised", cause)
        return False
    audit.record(
        "alert.raised", SYSTEM, f"alert:{alert_id}", {"cause": cause, "kind": kind, "summary": summary}
    )
    db.session.commit()
    log.warning("admin alert raised (%s): %s", cause, summary)
    return True


def alert_dead_letter(provider: str, event_id: str, detail: str | None = None) -> bool:
    """Alert once when an incoming webhook event ends in the dead-letter queue (issue 6)."""
    with operator_language():
        summary = gettext("Webhook event %(event_id)s from %(provider)s was moved to the dead-letter queue.",
                          event_id=event_id, provider=provider)
    if detail:
        summary += f" {detail}"
    return raise_alert(f"dead_letter:{provider}:{event_id}", "dead_letter", summary)


def alert_circuit_open(name: str, opened_at: datetime | str | None, detail: str | None = None) -> bool:
    """Alert once each time a circuit breaker (e.g. "sendgrid") opens."""
    if isinstance(opened_at, datetime):
        stamp = opened_at.isoformat()
    else:
        stamp = str(opened_at or utcnow().isoformat())
    with operator_language():
        summary = gettext(
            "The %(name)s circuit breaker opened at %(moment)s: sending is paused until it recovers.",
            name=name, moment=stamp,
        )
        if detail:
            summary += " " + gettext("Last error: %(error)s", error=detail)
    return raise_alert(f"circuit:{name}:{stamp}", "circuit_open", summary)


# -- sending -------------------------------------------------------------------------------


def channels() -> tuple[str, ...]:
    """The channels configured for admin alerts."""
    config = current_app.config
    found = []
    if config.get("ADMIN_ALERT_EMAILS"):
        found.append("email")
    if config.get("SLACK_WEBHOOK_URL"):
        found.append("slack")
    return tuple(found)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure."""
    config = current_app.config
    base = float(config.get("ALERT_RETRY_BASE_SECONDS", RETRY_BASE_SECONDS))
    ceiling = float(config.get("ALERT_RETRY_MAX_SECONDS", RETRY_MAX_SECONDS))
    return min(base * 2 ** max(attempts - 1, 0), ceiling)


def next_attempt_at(alert: AdminAlert) -> datetime:
    """When an alert is due: at once, then after each failure's back-off, counted from its creation."""
    return alert.created_at + timedelta(seconds=sum(retry_delay(n) for n in range(1, alert.attempts + 1)))


def _text(alert: AdminAlert) -> str:
    return f"[Pausa] {alert.summary}"


def send_slack(alert: AdminAlert) -> None:
    """POST the alert to the Slack incoming webhook; raise AlertSendError unless Slack says 2xx."""
    config = current_app.config
    timeout = float(config.get("SLACK_TIMEOUT_SECONDS", SLACK_TIMEOUT_SECONDS))
    url = config["SLACK_WEBHOOK_URL"]
    if not url.startswith(("https://", "http://")):
        raise AlertSendError("SLACK_WEBHOOK_URL must be an http(s) URL")
    body = json.dumps({"text": _text(alert)}).encode()
    request = urllib.request.Request(  # noqa: S310 - an http(s) URL, checked above
        url, data=body, method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Pausa admin alerts"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            response.read(1024)
    except urllib.error.HTTPError as error:
        raise AlertSendError(f"Slack answered {error.code}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise AlertSendError(f"Slack unreachable: {reason or type(reason).__name__}") from None


def send_email(alert: AdminAlert) -> None:
    """Email the alert to ADMIN_ALERT_EMAILS through the configured mail backend (app/mail.py)."""
    # Alert emails have no unsubscribe placeholder; the site's URL keeps SendGrid's substitutions non-empty.
    site = mail.public_url()
    recipients = [mail.Recipient(email, site) for email in current_app.config["ADMIN_ALERT_EMAILS"]]
    with operator_language():
        language = default_language()
        subject = gettext("[Pausa] %(kind)s alert", kind=_kind_label(alert.kind))
        cause, raised = gettext("Cause:"), gettext("Raised at:")
    text = f"{alert.summary}\n\n{cause} {alert.cause}\n{raised} {alert.created_at.isoformat()}\n"
    html = f"<p>{_escape(alert.summary)}</p><p>{_escape(cause)} <code>{_escape(alert.cause)}</code></p>"
    try:
        mail.send(mail.Message(language, subject, text, html, recipients))
    except mail.MailError as error:
        raise AlertSendError(f"email: {error}") from None


def _escape(text: str) -> str:
    return html.escape(text)


SENDERS: dict[str, Callable[[AdminAlert], None]] = {"email": send_email, "slack": send_slack}


def _channels_done(alert: AdminAlert) -> set[str]:
    """The channels that already took this alert (from its `alert.sent` audit entries)."""
    details = db.session.scalars(
        select(AuditEntry.details).where(
            AuditEntry.target == f"alert:{alert.id}", AuditEntry.action == "alert.sent"
        )
    )
    return {detail.get("channel") for detail in details if detail}


def _pending() -> tuple[Any, ...]:
    max_attempts = int(current_app.config.get("ALERT_MAX_ATTEMPTS", MAX_ATTEMPTS))
    return (AdminAlert.sent_at.is_(None), AdminAlert.attempts < max_attempts)


def count_pending() -> int:
    return db.session.scalar(select(func.count()).select_from(AdminAlert).where(*_pending())) or 0


def send_pending_alerts(now: datetime | None = None, limit: int = BATCH) -> list[AdminAlert]:
    """Send the due unsent alerts, each in its own transaction; return the ones now fully sent."""
    configured = channels()
    if not configured:
        db.session.rollback()
        return []  # shown on the dashboard only; sent once a channel is configured
    now = now or utcnow()
    max_attempts = int(current_app.config.get("ALERT_MAX_ATTEMPTS", MAX_ATTEMPTS))
    sent: list[AdminAlert] = []
    after_id = 0
    for _ in range(limit):
        rows = claim(
            select(AdminAlert).where(*_pending(), AdminAlert.id > after_id).order_by(AdminAlert.id), 1
        )
        if not rows:
            db.session.rollback()
            break
        alert = rows[0]
        after_id = alert.id
        if next_attempt_at(alert) > now:
            db.session.rollback()
            continue
        if _send_one(alert, configured, now, max_attempts):
            sent.append(alert)
    return sent


def _send_one(alert: AdminAlert, configured: tuple[str, ...], now: datetime, max_attempts: int) -> bool:
    """Try every configured channel not yet done; commit the outcome. True when all are done."""
    done = _channels_done(alert)
    errors: list[str] = []
    for channel in configured:
        if channel in done:
            continue
        try:
            SENDERS[channel](alert)
        except Exception as error:  # any channel failure is retried later, never fatal to the others
            errors.append(f"{channel}: {error}"[:500])
            log.warning("admin alert %s not sent by %s: %s", alert.cause, channel, error)
            continue
        audit.record(
            "alert.sent", SYSTEM, f"alert:{alert.id}",
            {"cause": alert.cause, "channel": channel, "attempt": alert.attempts + 1},
        )
        done.add(channel)
    alert.attempts += 1
    if errors:
        alert.last_error = "; ".join(errors)[:2000]
        if alert.attempts >= max_attempts:
            audit.record(
                "alert.failed", SYSTEM, f"alert:{alert.id}",
                {"cause": alert.cause, "attempts": alert.attempts, "error": alert.last_error},
            )
            log.error("admin alert %s given up after %d attempts", alert.cause, alert.attempts)
        db.session.commit()
        return False
    alert.sent_at = now
    alert.last_error = None
    db.session.commit()
    log.info("admin alert %s sent (%s)", alert.cause, ", ".join(configured))
    return True


def latest_alerts(limit: int = 10) -> list[AdminAlert]:
    """The most recent alerts, newest first (dashboard)."""
    return list(db.session.scalars(select(AdminAlert).order_by(AdminAlert.id.desc()).limit(limit)))


def status(alert: AdminAlert) -> str:
    """sent | pending | failing | failed, for the dashboard."""
    if alert.sent_at is not None:
        return "sent"
    if alert.attempts >= int(current_app.config.get("ALERT_MAX_ATTEMPTS", MAX_ATTEMPTS)):
        return "failed"
    return "failing" if alert.last_error else "pending"


# -- hooks: window transitions → alerts -------------------------------------------------------


def on_window_started(window: Any, **details: Any) -> None:
    """Alert when a window starts (activated now, or a scheduled one) outside PLANNED_WINDOW."""
    text = current_app.config.get("PLANNED_WINDOW")
    if not text:
        return
    planned = parse_planned(text)
    moment = window.starts_at or window.started_at or utcnow()
    if is_within(planned, moment):
        return
    who = details.get("actor") or window.started_by or "unknown"
    with operator_language():
        summary = gettext(
            "Maintenance window %(id)s started at %(moment)s (by %(actor)s), outside the planned window "
            "%(planned)s.", id=window.id, moment=moment.isoformat(), actor=who, planned=str(planned),
        )
    raise_alert(f"unplanned:window:{window.id}", "unplanned", summary)


def on_window_overdue(window: Any, **details: Any) -> None:
    eta = details.get("eta") or (window.eta.isoformat() if window.eta else "none")
    with operator_language():
        summary = gettext(
            "Maintenance window %(id)s is overdue: its ETA %(eta)s has passed and it is still active.",
            id=window.id, eta=eta,
        )
    raise_alert(f"overdue:window:{window.id}:{eta}", "overdue", summary)


def on_window_ceiling_exceeded(window: Any, **details: Any) -> None:
    hours = details.get("max_hours", current_app.config.get("MAINTENANCE_MAX_HOURS"))
    hours = f"{hours:g}" if isinstance(hours, int | float) else str(hours)
    with operator_language():
        summary = gettext(
            "Maintenance window %(id)s has been active for more than %(hours)s h (started %(moment)s).",
            id=window.id, hours=hours, moment=window.starts_at.isoformat(),
        )
    raise_alert(f"ceiling:window:{window.id}", "ceiling", summary)


def on_circuit_open(subject: Any = None, **details: Any) -> None:
    """mail.circuit_open: `subject` is the breaker (or None); details may carry name and opened_at."""
    name = details.get("name") or getattr(subject, "name", None) or "sendgrid"
    opened_at = details.get("opened_at") or getattr(subject, "opened_at", None)
    error = details.get("error") or details.get("last_error") or getattr(subject, "last_error", None)
    alert_circuit_open(name, opened_at, error)


HANDLERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("window.started", on_window_started),
    ("window.overdue", on_window_overdue),
    ("window.ceiling_exceeded", on_window_ceiling_exceeded),
    ("mail.circuit_open", on_circuit_open),
)


def register_hooks() -> None:
    """Plug the alert handlers into app/hooks.py (idempotent; events not defined yet are skipped)."""
    for event, handler in HANDLERS:
        if event in hooks.EVENTS:
            hooks.on(event, handler)
