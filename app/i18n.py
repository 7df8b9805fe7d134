"""The UI language (English or Brazilian Portuguese): the choice, the switcher, Vary, template helpers."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from pausa_gate.languages import DEFAULT_LANGUAGE, LANGUAGE_COOKIE, choose_language

# The language codes the gate chooses from, with each language's name in itself.
LANGUAGES = {"en": "English", "pt_BR": "Português (Brasil)"}
__all__ = ["DEFAULT_LANGUAGE", "LANGUAGE_COOKIE", "LANGUAGES", "choose_language"]


def select_locale() -> str:
    """Flask-Babel's locale selector: per request, or English outside one (CLI, worker)."""
    from flask import has_request_context, request

    if not has_request_context():
        return DEFAULT_LANGUAGE
    return choose_language(request.headers.get("Accept-Language"), request.cookies.get(LANGUAGE_COOKIE))


# --- Flask side: the switcher's route, the Vary header and template helpers -------------------

HTML_LANG = {"en": "en", "pt_BR": "pt-BR"}
COOKIE_MAX_AGE = 365 * 24 * 3600


def html_lang(language: str | None = None) -> str:
    """The BCP 47 tag for <html lang>: `pt-BR` or `en`."""
    if language is None:
        from flask_babel import get_locale

        language = str(get_locale() or DEFAULT_LANGUAGE)
    return HTML_LANG.get(language, "en")


def countdown_formats() -> dict[str, str]:
    """The countdown's wording in the current language; app.js reads the same strings from <html>."""
    from flask_babel import gettext

    return {
        "hm": gettext("%(h)s h %(m)s min"),
        "ms": gettext("%(m)s min %(s)s s"),
        "s": gettext("%(s)s s"),
        "soon": gettext("any moment now"),
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
    from flask_babel import gettext

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
        "expired_windows_pending": gettext("expired windows pending"),
        # Why a webhook request was refused (app/services/webhook_rejections.py).
        "malformed": gettext("malformed"),
        "stale_timestamp": gettext("timestamp too old"),
        "future_timestamp": gettext("timestamp in the future"),
        "signature": gettext("bad signature"),
        "not_configured": gettext("receiver not configured"),
        "too_large": gettext("too large"),
    }
    return labels.get(code, code.replace("_", " "))


def _as_utc(moment: Any) -> Any:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def utc_datetime(moment: Any) -> str:
    """A date and time in UTC for the current locale (what readers without JavaScript see)."""
    from babel.dates import format_datetime
    from flask_babel import get_locale

    return format_datetime(_as_utc(moment), "short", tzinfo=UTC, locale=get_locale()) + " UTC"


def utc_time(moment: Any) -> str:
    """A time of day in UTC for the current locale (what readers without JavaScript see)."""
    from babel.dates import format_time
    from flask_babel import get_locale

    return format_time(_as_utc(moment), "short", tzinfo=UTC, locale=get_locale()) + " UTC"


def _back_to() -> str:
    """Where to return after switching: `next` if it is a path here, else a same-site Referer."""
    from urllib.parse import urlsplit

    from flask import request

    from .security import safe_next

    target = safe_next(request.args.get("next"), "")
    if target:
        return target
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc and referrer.netloc == request.host and referrer.scheme in ("http", "https"):
        path = referrer.path + (f"?{referrer.query}" if referrer.query else "")
        return safe_next(path, "/")
    return "/"


def switch_language() -> Any:
    """Remember the chosen language in a cookie and go back to a page of this site (no JS needed)."""
    from flask import abort, current_app, redirect, request

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
    app.add_template_filter(label)
    app.add_template_global(LANGUAGES, "languages")
    app.add_template_global(HTML_LANG, "html_langs")
