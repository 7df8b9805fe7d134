"""The UI language (English or Brazilian Portuguese): the choice, the switcher, Vary, template helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel.dates import format_datetime, format_time
from flask import abort, current_app, has_request_context, redirect, request
from flask_babel import get_locale, gettext, ngettext
from pausa_gate.languages import DEFAULT_LANGUAGE, LANGUAGE_COOKIE, choose_language

from .security import referring_page, safe_next

# The language codes the gate chooses from, with each language's name in itself.
LANGUAGES = {"en": "English", "pt_BR": "Português (Brasil)"}
__all__ = ["DEFAULT_LANGUAGE", "LANGUAGE_COOKIE", "LANGUAGES", "choose_language"]


def select_locale() -> str:
    """Flask-Babel's locale selector: per request, or English outside one (CLI, worker)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    return choose_language(request.headers.get("Accept-Language"), request.cookies.get(LANGUAGE_COOKIE))


# --- Flask side: the switcher's route, the Vary header and template helpers -------------------

HTML_LANG = {"en": "en", "pt_BR": "pt-BR"}
COOKIE_MAX_AGE = 365 * 24 * 3600


def html_lang(language: str | None = None) -> str:
    """The BCP 47 tag for <html lang>: `pt-BR` or `en`."""
    if language is None:
        language = str(get_locale() or DEFAULT_LANGUAGE)
    return HTML_LANG.get(language, "en")


def countdown_formats() -> dict[str, str]:
    """The countdown's wording in the current language; app.js reads the same strings from <html>."""
    return {
        "hm": gettext("%(h)s h %(m)s min"),
        "ms": gettext("%(m)s min %(s)s s"),
        "s": gettext("%(s)s s"),
        "soon": gettext("any moment now"),
        # What app.js tells screen readers when the time left crosses a few marks, not every second:
        # each sentence for one minute and for several, "%(m)s" left in for the script to fill.
        "start-one": ngettext(
            "Maintenance starts in %(m)s minute.", "Maintenance starts in %(m)s minutes.", 1, m="%(m)s"
        ),
        "start-other": ngettext(
            "Maintenance starts in %(m)s minute.", "Maintenance starts in %(m)s minutes.", 2, m="%(m)s"
        ),
        "start-now": gettext("Maintenance is about to start."),
        "back-one": ngettext(
            "Expected back in %(m)s minute.", "Expected back in %(m)s minutes.", 1, m="%(m)s"
        ),
        "back-other": ngettext(
            "Expected back in %(m)s minute.", "Expected back in %(m)s minutes.", 2, m="%(m)s"
        ),
        "back-now": gettext("Expected back any moment now."),
    }


def format_countdown(seconds: int | None) -> str:
    """Seconds left in words of the current language, exactly as static/js/app.js writes them."""
    formats = countdown_formats()
    total = max(0, int(seconds or 0))
    if total <= 0:
        return formats["soon"]
    hours, minutes, secs = total // 3600, total % 3600 // 60, total % 60
    if hours:
        return formats["hm"] % {"h": hours, "m": f"{minutes:02d}"}
    if minutes:
        return formats["ms"] % {"m": minutes, "s": f"{secs:02d}"}
    return formats["s"] % {"s": secs}


def label(value: Any) -> str:
    """The words for one of the core's codes (mode, reason, status, role…); unknown codes as they are."""
    code = str(value)
    labels = {
        "full": gettext("full"),
        "read_only": gettext("read only"),
        "scoped": gettext("scoped"),
        "deployment": gettext("deployment"),
        "database": gettext("database"),
        "testing": gettext("testing"),
        "incident": gettext("incident"),
        "other": gettext("other"),
        "scheduled": gettext("scheduled"),
        "active": gettext("active"),
        "completed": gettext("completed"),
        "cancelled": gettext("cancelled"),
        "manual": gettext("manual"),
        "auto": gettext("auto"),
        "admin": gettext("admin"),
        "developer": gettext("developer"),
        "qa": gettext("qa"),
        "user": gettext("user"),
        # The queues of /health/ready, on the dashboard's health panel (app/services/health.py).
        "expired_windows_pending": gettext("expired windows pending"),
        "deliveries_queued": gettext("emails waiting to be sent"),
        "deliveries_uncertain": gettext("emails of uncertain delivery"),
        "mail_circuit_open": gettext("mail circuit open"),
        "webhook_inbox_pending": gettext("webhook events waiting"),
        "webhook_dead_letters": gettext("webhook dead letters"),
        "outbound_webhooks_queued": gettext("outbound webhooks waiting"),
        # Why a webhook request was refused (app/services/webhook_rejections.py).
        "malformed": gettext("malformed"),
        "stale_timestamp": gettext("timestamp too old"),
        "future_timestamp": gettext("timestamp in the future"),
        "signature": gettext("bad signature"),
        "not_configured": gettext("receiver not configured"),
        "too_large": gettext("too large"),
    }
    return labels.get(code, code.replace("_", " "))


def default_language() -> str:
    """The operator's language (BABEL_DEFAULT_LOCALE): alerts, and emails to subscribers of no known one."""
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def message_languages(existing: Any = None) -> list[tuple[str, str]]:
    """The languages the dashboard asks a window's message in, as (tag, name).

    Every language but the operator's (whose words go in the message itself), and any
    language the window already has a message in, so saving the form never drops one.
    """
    default, present = default_language(), set(existing or ())
    return [(HTML_LANG[code], name) for code, name in LANGUAGES.items()
            if code != default or HTML_LANG[code] in present]


def reason_label(value: Any) -> str:
    """Why a window is on, in the words the maintenance page uses ("Database work"), not the code."""
    labels = {
        "deployment": gettext("Deploying an update"),
        "database": gettext("Database work"),
        "testing": gettext("Testing"),
        "incident": gettext("Fixing an incident"),
        "other": gettext("Maintenance"),
    }
    return labels.get(str(value), labels["other"])


def _as_utc(moment: Any) -> Any:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def utc_datetime(moment: Any) -> str:
    """A date and time in UTC for the current locale (what readers without JavaScript see)."""
    return format_datetime(_as_utc(moment), "short", tzinfo=UTC, locale=get_locale()) + " UTC"


def utc_time(moment: Any) -> str:
    """A time of day in UTC for the current locale (what readers without JavaScript see)."""
    return format_time(_as_utc(moment), "short", tzinfo=UTC, locale=get_locale()) + " UTC"


def datetime_attribute(moment: datetime | str) -> str:
    """A moment for a `datetime=` attribute: UTC to the whole second, like 2026-12-04T21:50:50Z.

    HTML allows at most three fractional digits (isoformat() writes six); a moment without a zone
    is UTC, as the database stores it. The pure core's facts carry ISO strings: they are read too.
    """
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return _as_utc(moment).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _back_to() -> str:
    """Where to return after switching: `next` if it is a path here, else a same-site Referer."""
    return safe_next(request.args.get("next"), "") or referring_page() or "/"


def switch_language() -> Any:
    """Remember the chosen language in a cookie and go back to a page of this site (no JS needed)."""
    language = request.args.get("lang", "")
    if language not in LANGUAGES:
        abort(400)
    response = redirect(_back_to(), code=303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=COOKIE_MAX_AGE,
        samesite="Lax",
        httponly=True,
        secure=current_app.config.get("SESSION_COOKIE_SECURE", False),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def vary_on_language(response: Any) -> Any:
    """HTML depends on Accept-Language and on the switcher's cookie: tell caches so."""
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def init_i18n(app: Any) -> None:
    """Install the language switcher's route, the Vary header and the template helpers."""
    app.add_url_rule("/maintenance/language", "language", switch_language, methods=["GET"])
    # The same switcher under the visitors' prefix, for the maintenance page in front of any system.
    app.add_url_rule(app.config["GATE_PUBLIC_PREFIX"] + "/language", "visitor_language", switch_language,
                     methods=["GET"])
    app.after_request(vary_on_language)
    app.add_template_global(html_lang)
    app.add_template_global(format_countdown)
    app.add_template_global(countdown_formats)
    app.add_template_global(utc_datetime)
    app.add_template_global(utc_time)
    app.add_template_global(label)
    app.add_template_global(reason_label)
    app.add_template_global(message_languages)
    app.add_template_filter(label)
    app.add_template_filter(datetime_attribute)
    app.add_template_global(LANGUAGES, "languages")
    app.add_template_global(HTML_LANG, "html_langs")
