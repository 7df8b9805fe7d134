"""What a webhook subscriber's URL and name may be: pure rules, no Flask.

Each check answers a problem code (or None); the service turns codes into words
in the admin's language. A subscriber's URL receives signed notices from the
server, so it must be https; plain http is allowed only to this machine, and
only outside production (a receiver being developed or a test's local server).
Credentials in a URL would be stored and shown to every admin: refused.
"""

from __future__ import annotations

from urllib.parse import urlsplit

URL_MAX = 2000
NAME_MAX = 80
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

# Problem codes: required, too_long, invalid, scheme, local_http_only, credentials, fragment.


def _has_control_characters(text: str) -> bool:
    return any(ord(character) < 32 or ord(character) == 127 for character in text)


def url_problem(raw: object, allow_local_http: bool) -> str | None:
    """Return why `raw` cannot be a subscriber's URL, or None when it can."""
    if not isinstance(raw, str) or not raw.strip():
        return "required"
    url = raw.strip()
    if len(url) > URL_MAX:
        return "too_long"
    if _has_control_characters(url) or any(character.isspace() for character in url):
        return "invalid"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        return "invalid"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "scheme" if parts.scheme not in ("https", "http") else "invalid"
    if parts.username is not None or parts.password is not None:
        return "credentials"
    if parts.fragment:
        return "fragment"
    if parts.scheme == "http":
        if not allow_local_http:
            return "scheme"
        if parts.hostname not in LOCAL_HOSTS:
            return "local_http_only"
    return None


def name_problem(raw: object) -> str | None:
    """Return why `raw` cannot be a subscriber's name (optional), or None when it can."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        return "invalid"
    if len(raw.strip()) > NAME_MAX:
        return "too_long"
    if _has_control_characters(raw):
        return "invalid"
    return None


def default_name(url: str) -> str:
    """Name a subscriber after its URL's host when the admin gave no name."""
    return (urlsplit(url.strip()).hostname or url)[:NAME_MAX]
