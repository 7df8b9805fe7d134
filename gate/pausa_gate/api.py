"""A client of Pausa's JSON admin API (`/api/admin/maintenance`), standard library only.

Every call carries the bearer token, has a timeout, and is retried a few times on a connection
error, a 5xx or a 429. Failures are raised as three kinds, one per exit code of the `pausa` CLI:
`Refused` (Pausa said no), `BadInput` (Pausa named fields it cannot accept) and `Unreachable`
(no usable answer).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, NoReturn

from . import __version__

MAINTENANCE = "/api/admin/maintenance"
WINDOWS = "/api/admin/maintenance/windows"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 3
# Short waits between attempts: a deploy pipeline should learn within seconds that Pausa is gone.
BACKOFF_SECONDS = (0.25, 0.5, 1.0, 2.0)
# The longest wait before a retry. A 429 asking for longer is not retried (a retry before then is
# refused for certain: the caller is told when to try again); a 5xx's Retry-After is a guess at an
# outage's length, so its wait is cut to this and the call retried.
MAX_RETRY_AFTER = 10.0
# An admin API answer is a few kilobytes; refuse to hold more in memory.
MAX_BODY_BYTES = 1_000_000


class ApiError(Exception):
    """Raised when Pausa did not do what was asked; `message` is one line for a person."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class Answer:
    """A response of Pausa's API: its status, its JSON body and its headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def error_code(self) -> str | None:
        """Return Pausa's machine-readable error code (`conflict`, `not_found`...), if any."""
        return self.body.get("error") if isinstance(self.body, dict) else None


class Refused(ApiError):
    """Pausa answered but refused (401, 403, 404, 409, 429 beyond what we wait for...)."""

    def __init__(self, message: str, answer: Answer):
        super().__init__(message)
        self.answer = answer

    @property
    def status(self) -> int:
        return self.answer.status


class BadInput(ApiError):
    """Pausa refused the request's fields (400), each with a message a person can act on."""

    def __init__(self, message: str, fields: dict[str, str]):
        super().__init__(message)
        self.fields = fields


class Unreachable(ApiError):
    """No usable answer: a connection error, a timeout, or 5xx answers after every retry."""


class _Retryable(Exception):
    """An attempt that may succeed if made again, and the error to raise if none does."""

    def __init__(self, final: ApiError, retry_after: float | None = None):
        super().__init__(final.message)
        self.final = final
        self.retry_after = retry_after


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse to follow redirects: urllib would resend the bearer token to whatever host is named."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def normalise_base_url(url: str) -> str:
    """Check Pausa's base URL and return it without a trailing slash; raise ValueError if unusable."""
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{display_url(url)!r} is not an http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{display_url(url)!r} must not have a query string or fragment")
    return url.rstrip("/")


def display_url(url: str) -> str:
    """Return the URL without any user:password part, so messages never show a credential."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def is_plain_http_to_another_host(url: str) -> bool:
    """Tell whether the token would cross a network unencrypted (http:// to a non-loopback host)."""
    parts = urllib.parse.urlsplit(url)
    return parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1", "::1")


class PausaClient:
    """Call one Pausa's admin API with one token."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        sleep: Any = time.sleep,
    ):
        self.base_url = normalise_base_url(url)
        self._token = token.strip()
        self.timeout = timeout
        self.retries = retries
        self._sleep = sleep
        self._opener = urllib.request.build_opener(_NoRedirects())

    def __repr__(self) -> str:  # never the token, even in a traceback
        return f"PausaClient({display_url(self.base_url)!r})"

    # -- the API -------------------------------------------------------------------------

    def status(self) -> Answer:
        """Return whether maintenance is on and the window in effect."""
        return self._expect(self.request("GET", MAINTENANCE), "active")

    def activate(self, fields: dict[str, Any]) -> Answer:
        """Start maintenance now with these window fields."""
        return self._expect(self.request("POST", MAINTENANCE, fields), "window")

    def update(self, fields: dict[str, Any]) -> Answer:
        """Change the active window's fields (only those given)."""
        return self._expect(self.request("PATCH", MAINTENANCE, fields), "window")

    def end(self, window_id: int | None = None) -> Answer:
        """End the active window now; with `window_id`, only if it is that window (else 409)."""
        path = MAINTENANCE if window_id is None else f"{MAINTENANCE}?window={int(window_id)}"
        return self._expect(self.request("DELETE", path), "window")

    def windows(self) -> Answer:
        """List the most recent windows, newest first."""
        return self._expect(self.request("GET", WINDOWS), "windows")

    def schedule(self, fields: dict[str, Any]) -> Answer:
        """Plan a window that starts later (`starts_at` required)."""
        return self._expect(self.request("POST", WINDOWS, fields), "window")

    def cancel(self, window_id: int) -> Answer:
        """Cancel a scheduled window before it starts."""
        return self._expect(self.request("DELETE", f"{WINDOWS}/{int(window_id)}"), "window")

    def _expect(self, answer: Answer, key: str) -> Answer:
        """Check that a success carries what Pausa's API always sends; another site's JSON does not."""
        if not isinstance(answer.body, dict) or key not in answer.body:
            raise Unreachable(
                f"{display_url(self.base_url)} answered HTTP {answer.status} without Pausa's {key!r}: "
                "is PAUSA_URL Pausa's base URL?"
            )
        if key == "window" and not isinstance(answer.body[key], dict):
            raise Unreachable(f"{display_url(self.base_url)} answered HTTP {answer.status} without a window.")
        return answer

    # -- transport -----------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        """Send one call, retrying what may pass on a second try; raise an ApiError otherwise."""
        attempt = 0
        while True:
            try:
                return self._attempt(method, path, body)
            except _Retryable as problem:
                if attempt >= self.retries:
                    raise problem.final from None
                delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
                if problem.retry_after is not None:
                    if problem.retry_after > MAX_RETRY_AFTER and isinstance(problem.final, Refused):
                        raise problem.final from None
                    delay = max(delay, min(problem.retry_after, MAX_RETRY_AFTER))
                self._sleep(delay)
                attempt += 1

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None) -> Answer:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "User-Agent": f"pausa-gate/{__version__} (pausa CLI)",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        # S310: normalise_base_url let only http and https through.
        request = urllib.request.Request(  # noqa: S310
            self.base_url + path, data=data, headers=headers, method=method
        )
        where = display_url(self.base_url)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return self._answer(response.status, response.read(MAX_BODY_BYTES + 1), response.headers)
        except urllib.error.HTTPError as error:
            raw = _read_quietly(error)
            self._refuse(self._answer(error.code, raw, error.headers, strict=False), method, path)
        except TimeoutError as error:
            # Not retried: the call may still be running there, and waiting again multiplies the delay.
            raise Unreachable(f"Pausa at {where} did not answer within {self.timeout:g} s.") from error
        except urllib.error.URLError as error:
            reason = error.reason
            if isinstance(reason, TimeoutError):
                raise Unreachable(f"Pausa at {where} did not answer within {self.timeout:g} s.") from error
            if isinstance(reason, ssl.SSLCertVerificationError):
                # A certificate that does not verify will not verify on the next try either.
                raise Unreachable(
                    f"Pausa at {where}: TLS certificate not trusted ({reason.verify_message})."
                ) from error
            raise _Retryable(Unreachable(f"Cannot reach Pausa at {where}: {_reason(reason)}.")) from error
        except (ConnectionError, http.client.HTTPException) as error:
            raise _Retryable(Unreachable(f"Pausa at {where} dropped the connection: {_reason(error)}.")) \
                from error

    def _answer(self, status: int, raw: bytes, headers: Any, strict: bool = True) -> Answer:
        """Parse a body as JSON; a 2xx that is not JSON means the URL is not Pausa's API."""
        where = display_url(self.base_url)
        header_map = {name.lower(): value for name, value in (headers or {}).items()}
        if len(raw) > MAX_BODY_BYTES:
            raise Unreachable(f"{where} answered HTTP {status} with a body too large to be Pausa's.")
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except ValueError:
            if strict:
                raise Unreachable(
                    f"{where} answered HTTP {status} but not with JSON: is PAUSA_URL Pausa's base URL?"
                ) from None
            body = None
        return Answer(status, body, header_map)

    def _refuse(self, answer: Answer, method: str, path: str) -> NoReturn:
        """Turn an error status into the exception that says what to do about it."""
        where = display_url(self.base_url)
        message = answer.body.get("message") if isinstance(answer.body, dict) else None
        status = answer.status
        if 300 <= status < 400:
            location = answer.headers.get("location", "?")
            raise Refused(
                f"{where} redirects to {display_url(location)}; set PAUSA_URL to the final address "
                "(redirects are not followed, so the token goes nowhere else).",
                answer,
            )
        if status >= 500:
            detail = f": {message}" if message else ""
            raise _Retryable(
                Unreachable(f"Pausa at {where} answered HTTP {status}{detail}"),
                _retry_after(answer),
            )
        if status == 429:
            wait = _retry_after(answer)
            when = f"; try again in {wait:g} s" if wait is not None else ""
            raise _Retryable(Refused(f"Pausa refused: too many requests{when}.", answer), wait or 1.0)
        if answer.error_code is None:
            # Not one of Pausa's JSON errors: PAUSA_URL most likely names another site, so Pausa
            # itself was not reached.
            raise Unreachable(
                f"{where} answered HTTP {status} to {method} {path}, not as Pausa's API would; "
                "is PAUSA_URL Pausa's base URL?"
            )
        if status == 400 and answer.error_code == "validation":
            fields = answer.body.get("fields") or {}
            named = {str(name): str(text) for name, text in fields.items()}
            raise BadInput(message or "Some fields are not valid.", named)
        if status == 401:
            raise Refused(
                f"Pausa refused the token (HTTP 401): {message or 'unknown or revoked'} "
                "Check PAUSA_TOKEN (make one with `flask tokens create NAME`).",
                answer,
            )
        if status == 403:
            raise Refused(
                f"Pausa refused (HTTP 403): {message or 'forbidden'} The token needs the admin scope.", answer
            )
        raise Refused(message or f"Pausa refused (HTTP {status}).", answer)


def _read_quietly(error: urllib.error.HTTPError) -> bytes:
    """Read an error answer's body and close it; a body cut short reads as none."""
    try:
        return error.read(MAX_BODY_BYTES + 1)
    except (OSError, http.client.HTTPException):
        return b""
    finally:
        error.close()


def _retry_after(answer: Answer) -> float | None:
    """Read Retry-After in seconds (the HTTP-date form is not used by Pausa; treat it as absent)."""
    raw = answer.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw.strip()))
    except ValueError:
        return None


def _reason(error: Any) -> str:
    """Describe a connection failure in a few words."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "unknown host"
    text = str(error) or type(error).__name__
    return text.splitlines()[0]
