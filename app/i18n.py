"""Language choice: English or Brazilian Portuguese, from a cookie or Accept-Language."""

from __future__ import annotations

from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

LANGUAGES = {"en": "English", "pt_BR": "Português (Brasil)"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "pausa_lang"
# What browsers send, mapped to the translations we have.
_ACCEPTED = {"en": "en", "pt-br": "pt_BR", "pt": "pt_BR"}


def choose_language(accept_language: str | None, cookie: str | None = None) -> str:
    """Pick the UI language: the switcher's cookie first, then the browser's preference."""
    if cookie in LANGUAGES:
        return cookie
    accept = parse_accept_header(accept_language or "", LanguageAccept)
    best = accept.best_match(["en", "pt-BR", "pt"], default=DEFAULT_LANGUAGE)
    return _ACCEPTED.get(best.lower(), DEFAULT_LANGUAGE)


def select_locale() -> str:
    """Flask-Babel's locale selector: per request, or English outside one (CLI, worker)."""
    from flask import has_request_context, request

    if not has_request_context():
        return DEFAULT_LANGUAGE
    return choose_language(request.headers.get("Accept-Language"), request.cookies.get(LANGUAGE_COOKIE))
