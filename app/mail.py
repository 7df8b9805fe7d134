"""Outgoing email: the "we're back" message and the backends that carry it.

One call sends one `Message` (one subject, text and HTML body in one language)
to up to NOTIFY_BATCH_SIZE (≤ 1000, SendGrid's limit) recipients, each with
their own unsubscribe link:

- `sendgrid`: one v3 `POST /v3/mail/send` through the official library, one
  personalization per recipient (its own `to`, and `substitutions` replacing
  the unsubscribe placeholders by that recipient's link), so nobody sees
  anybody else's address. `SENDGRID_API_HOST` points it elsewhere (tests, bench).
- `console`: logs each recipient's message, the address masked (development, no key).
- `memory`: appends each call to `app.extensions[OUTBOX_KEY]` (tests).
- `disabled`: no email at all (the operator's explicit choice): nothing is offered
  or queued, and a call fails without retry. Production accepts only `sendgrid`
  and `disabled` (docs/production.md).

A failed call raises `MailError`, which says whether trying again later may help
(429, 5xx, timeouts, connection errors) and how long SendGrid asked us to wait.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.error
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flask import current_app, has_request_context, render_template, request
from flask_babel import force_locale, gettext
from pausa_gate.windows import utcnow

from .extensions import OUTBOX_KEY
from .i18n import LANGUAGES, default_language, format_countdown, reason_label

log = logging.getLogger("pausa.mail")

BACKENDS = ("sendgrid", "disabled", "console", "memory")
MAX_PERSONALIZATIONS = 1000  # SendGrid v3's limit per call
# Placeholders in the bodies, replaced per recipient (by SendGrid's substitutions, or here).
UNSUBSCRIBE_TEXT = "-pausa_unsubscribe_text-"
UNSUBSCRIBE_HTML = "-pausa_unsubscribe_html-"
CONFIRM_TEXT = "-pausa_confirm_text-"
CONFIRM_HTML = "-pausa_confirm_html-"


@dataclass(frozen=True)
class Recipient:
    email: str
    unsubscribe_url: str
    # Notices: the link a standing subscription's confirmation email carries (CONFIRM_* placeholders),
    # and RFC 8058 one-click unsubscribe headers naming unsubscribe_url (SendGrid: per personalization).
    confirm_url: str | None = None
    one_click: bool = False

    def substitutions(self) -> dict[str, str]:
        values = {UNSUBSCRIBE_TEXT: self.unsubscribe_url, UNSUBSCRIBE_HTML: html.escape(self.unsubscribe_url)}
        if self.confirm_url is not None:
            values.update({CONFIRM_TEXT: self.confirm_url, CONFIRM_HTML: html.escape(self.confirm_url)})
        return values

    def headers(self) -> dict[str, str]:
        if not self.one_click:
            return {}
        return {"List-Unsubscribe": f"<{self.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@dataclass(frozen=True)
class Message:
    language: str
    subject: str
    text: str  # with UNSUBSCRIBE_TEXT where the recipient's link goes
    html: str  # with UNSUBSCRIBE_HTML where the recipient's link goes
    recipients: list[Recipient] = field(default_factory=list)

    def personalised(self, recipient: Recipient) -> tuple[str, str]:
        """The text and HTML bodies one recipient gets."""
        text, body = self.text, self.html
        for key, value in recipient.substitutions().items():
            text, body = text.replace(key, value), body.replace(key, value)
        return text, body


class MailError(Exception):
    """A send that failed; `retryable` when the same call may succeed later.

    `fields` are the request paths SendGrid's errors name (e.g. `personalizations.3.to.0.email`).
    """

    def __init__(self, message: str, *, retryable: bool, status: int | None = None,
                 retry_after: float | None = None, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after
        self.fields = fields


def error_fields(body: str) -> tuple[str, ...]:
    """The `field` of each error in a SendGrid error body (`{"errors": [{"field": ...}]}`), if any."""
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError):
        return ()
    return tuple(
        item["field"] for item in errors if isinstance(item, dict) and isinstance(item.get("field"), str)
    )


def email_enabled() -> bool:
    """Whether this site sends email at all (MAIL_BACKEND is not `disabled`)."""
    return current_app.config.get("MAIL_BACKEND") != "disabled"


def mask_email(email: str) -> str:
    """Hide an address in logs: first character of each part, the top-level domain kept."""
    local, _, domain = email.rpartition("@")
    if not local:
        return "***"
    name, dot, tld = domain.rpartition(".")
    hidden_domain = f"{name[:1]}***{dot}{tld}" if dot else f"{domain[:1]}***"
    return f"{local[:1]}***@{hidden_domain}"


# -- the message -------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    return format_countdown(max(1, int(seconds)))


def public_url() -> str:
    """The site's address for links in emails (PUBLIC_URL; the request's host as a fallback)."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return configured.rstrip("/") + "/"
    return request.host_url if has_request_context() else "http://localhost:5000/"


def back_online_message(window: Any, language: str, recipients: list[Recipient]) -> Message:
    """Render the "we're back" email for `window` in `language` (en or pt_BR; else the operator's)."""
    language = language if language in LANGUAGES else default_language()
    ended_at = window.ended_at or utcnow()
    started_at = window.started_at or window.starts_at
    lasted = _duration((ended_at - started_at).total_seconds()) if started_at else None
    with force_locale(language):
        context = {
            "window": window,
            # The words the maintenance page used ("Database work"), not the code ("database").
            "reason": reason_label(window.reason),
            "lasted": lasted,
            "site_url": public_url(),
            "unsubscribe_text": UNSUBSCRIBE_TEXT,
            "unsubscribe_html": UNSUBSCRIBE_HTML,
            "language": language,
        }
        subject = gettext("We're back: the maintenance is over")
        text = render_template("email/back_online.txt", subject=subject, **context)
        body = render_template("email/back_online.html", subject=subject, **context)
    return Message(language, subject, text, body, list(recipients))


NOTICE_KINDS = ("scheduled", "reminder", "started", "changed", "ended", "cancelled")


def notice_base_kind(kind: str) -> str:
    """"changed-3" (the third change round) is written like "changed"."""
    return kind.split("-", 1)[0]


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def notice_subject(kind: str) -> str:
    """The subject of a notice of `kind`, in the current locale."""
    subjects = {
        "scheduled": gettext("Maintenance planned"),
        "reminder": gettext("Reminder: maintenance starts soon"),
        "started": gettext("Maintenance has started"),
        "changed": gettext("Maintenance times have changed"),
        "ended": gettext("Maintenance is over"),
        "cancelled": gettext("Maintenance called off"),
    }
    return subjects[notice_base_kind(kind)]


def notice_message(window: Any, kind: str, language: str, recipients: list[Recipient]) -> Message:
    """Render one notice about `window` in `language`: the reason, the times in UTC, the message."""
    language = language if language in LANGUAGES else default_language()
    state = window.to_state()
    with force_locale(language):
        context = {
            "kind": notice_base_kind(kind),
            "window": window,
            "reason": reason_label(window.reason),
            "message": state.message_in(language),
            "starts_at": _utc(window.started_at or window.starts_at),
            "eta": _utc(window.eta),
            "ends_at": _utc(window.ended_at if window.ended_at and kind == "ended" else window.ends_at),
            "status_url": public_url() + "status",
            "site_url": public_url(),
            "unsubscribe_text": UNSUBSCRIBE_TEXT,
            "unsubscribe_html": UNSUBSCRIBE_HTML,
            "language": language,
        }
        subject = notice_subject(kind)
        text = render_template("email/notice.txt", subject=subject, **context)
        body = render_template("email/notice.html", subject=subject, **context)
    return Message(language, subject, text, body, list(recipients))


def confirm_message(language: str, recipients: list[Recipient]) -> Message:
    """Render the standing subscription's confirmation email; each recipient's link is substituted."""
    language = language if language in LANGUAGES else default_language()
    with force_locale(language):
        context = {
            "confirm_text": CONFIRM_TEXT,
            "confirm_html": CONFIRM_HTML,
            "hours": int(current_app.config["NOTICE_CONFIRM_HOURS"]),
            "site_url": public_url(),
            "language": language,
        }
        subject = gettext("Confirm your maintenance notices")
        text = render_template("email/confirm.txt", subject=subject, **context)
        body = render_template("email/confirm.html", subject=subject, **context)
    return Message(language, subject, text, body, list(recipients))


# -- the backends ------------------------------------------------------------------------


def outbox() -> list[dict[str, Any]]:
    """What the memory backend sent, one dict per call (tests)."""
    return current_app.extensions.setdefault(OUTBOX_KEY, [])


def send(message: Message) -> None:
    """Send `message` to all its recipients in one call of the configured backend; raise MailError."""
    config = current_app.config
    if len(message.recipients) > min(MAX_PERSONALIZATIONS, int(config["NOTIFY_BATCH_SIZE"])):
        raise ValueError(f"{len(message.recipients)} recipients in one call; at most {MAX_PERSONALIZATIONS}")
    if not message.recipients:
        return
    backend = config.get("MAIL_BACKEND", "console")
    if backend == "sendgrid":
        _send_sendgrid(message)
    elif backend == "memory":
        outbox().append({
            "language": message.language,
            "subject": message.subject,
            "recipients": [recipient.email for recipient in message.recipients],
            "bodies": {r.email: message.personalised(r) for r in message.recipients},
            "headers": {r.email: r.headers() for r in message.recipients},
            "message": message,
        })
    elif backend == "console":
        for recipient in message.recipients:
            text, _ = message.personalised(recipient)
            # Logs outlive the subscriber's retention: never write the full address there.
            log.info("email to %s (%s): %s\n%s", mask_email(recipient.email), message.language,
                     message.subject, text)
    elif backend == "disabled":
        raise MailError("email is disabled (MAIL_BACKEND=disabled)", retryable=False)
    else:
        raise MailError(f"unknown MAIL_BACKEND {backend!r}; choose from {', '.join(BACKENDS)}",
                        retryable=False)


def sendgrid_mail(message: Message, sender: str) -> Any:
    """The v3 Mail: one personalization per recipient, with their unsubscribe link substituted."""
    # local: start-up cost (~75 ms per process); only the sendgrid backend needs the client.
    from sendgrid.helpers.mail import Content, From, Header, Mail, Personalization, Substitution, To

    mail = Mail()
    mail.from_email = From(sender)
    mail.subject = message.subject
    # text/plain must come first (a v3 rule); the library keeps that order.
    mail.add_content(Content("text/plain", message.text))
    mail.add_content(Content("text/html", message.html))
    for index, recipient in enumerate(message.recipients):
        personalization = Personalization()
        personalization.add_to(To(recipient.email))
        for key, value in recipient.substitutions().items():
            personalization.add_substitution(Substitution(key, value))
        for key, value in recipient.headers().items():
            personalization.add_header(Header(key, value))
        mail.add_personalization(personalization, index)
    return mail


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Parse a Retry-After header: seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or utcnow())).total_seconds())


def _send_sendgrid(message: Message) -> None:
    # local: start-up cost (~75 ms per process); only the sendgrid backend needs the client.
    from python_http_client.exceptions import HTTPError
    from sendgrid import SendGridAPIClient

    config = current_app.config
    if not config.get("SENDGRID_API_KEY"):
        raise MailError("SENDGRID_API_KEY is not set", retryable=False)
    client = SendGridAPIClient(api_key=config["SENDGRID_API_KEY"], host=config["SENDGRID_API_HOST"])
    timeout = float(config.get("SENDGRID_TIMEOUT_SECONDS", 10.0))
    mail = sendgrid_mail(message, config["MAIL_FROM"])
    try:
        response = client.client.mail.send.post(request_body=mail.get(), timeout=timeout)
    except HTTPError as error:
        status = int(error.status_code)
        headers = getattr(error, "headers", None)
        retry_after = retry_after_seconds(headers.get("Retry-After") if headers is not None else None)
        body = error.body.decode("utf-8", "replace") if isinstance(error.body, bytes) else str(error.body)
        raise MailError(f"SendGrid answered {status}: {body[:300]}", status=status,
                        retryable=status == 429 or status >= 500, retry_after=retry_after,
                        fields=error_fields(body) if status == 400 else ()) from None
    except TimeoutError as error:
        raise MailError(f"SendGrid timed out after {timeout:g} s", retryable=True) from error
    except (urllib.error.URLError, ConnectionError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, TimeoutError):
            raise MailError(f"SendGrid timed out after {timeout:g} s", retryable=True) from error
        raise MailError(f"SendGrid unreachable: {reason}", retryable=True) from error
    if response.status_code not in (200, 202):
        raise MailError(f"SendGrid answered {response.status_code}", status=response.status_code,
                        retryable=response.status_code >= 500)
