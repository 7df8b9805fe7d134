"""Which of the page's languages a visitor gets: the switcher's cookie, else Accept-Language."""

from __future__ import annotations

from functools import lru_cache

from .headers import weighted

LANGUAGES = ("en", "pt_BR")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "pausa_lang"
# What browsers send (lowercased), mapped to the translations there are.
_ACCEPTED = {"en": "en", "pt-br": "pt_BR", "pt": "pt_BR"}


def choose_language(accept_language: str | None, cookie: str | None = None) -> str:
    """Pick the UI language: the switcher's cookie first, then the browser's preference."""
    if cookie in LANGUAGES:
        return cookie
    return _from_accept(accept_language or "")


@lru_cache(maxsize=256)
def _from_accept(header: str) -> str:
    """Return the best language an Accept-Language header allows (cached: browsers send few values)."""
    best, best_quality = DEFAULT_LANGUAGE, 0.0
    for tag, quality in weighted(header):
        language = _ACCEPTED.get(tag) or _ACCEPTED.get(tag.split("-", 1)[0])
        # Of equal weights the first listed wins: browsers list languages in preference order.
        if language is not None and quality > best_quality:
            best, best_quality = language, quality
    return best
