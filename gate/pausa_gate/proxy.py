"""Pass a visitor's request under the public prefix (/_pausa/...) to Pausa and bring its answer back.

The maintenance page a host app serves loads its CSS and JavaScript, polls its
status, posts the subscribe form and opens bypass links under the prefix, on
the host app's own site; this module forwards those requests to Pausa. It is
the embedded gate's version of the edge recipes' `location /_pausa/`.
"""

from __future__ import annotations

import http.client
import logging
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

from .answers import Answer

log = logging.getLogger("pausa_gate")

# Never forwarded either way: they describe one connection, not the request (RFC 9110, 7.6.1).
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade",
})
# Set by the proxy itself: a visitor's own values would be believed by Pausa as this hop's.
REWRITTEN = frozenset({
    "host", "content-length", "forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto",
    "x-forwarded-port", "x-forwarded-prefix", "authorization", "cookie",
})
# Pausa's cookies (language, bypass link): the only ones it reads under the prefix. The host app's
# session cookie and Authorization header are the host app's credentials and never leave it.
PAUSA_COOKIE_PREFIX = "pausa_"
MAX_BODY = 1024 * 1024  # a subscribe form is a few hundred bytes
MAX_ANSWER = 16 * 1024 * 1024  # the largest of Pausa's assets is a few hundred kilobytes
UNAVAILABLE = (
    b"Pausa is not answering: the maintenance page's resources are unavailable for a moment. "
    b"Please try again shortly.\n"
)


@dataclass(frozen=True, slots=True)
class Visit:
    """One visitor request to forward, described the same way by the WSGI and the ASGI gate."""

    method: str
    target: str  # the path (already percent-encoded) and query, as Pausa is asked for it
    headers: list[tuple[str, str]]
    body: bytes
    client_ip: str | None
    scheme: str
    host: str | None


class Proxy:
    """Forward visits to one Pausa, each on a fresh connection with bounded timeouts."""

    def __init__(self, url: str, *, connect_timeout: float = 3.0, timeout: float = 10.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"PAUSA_URL must be an http:// or https:// address, not {url!r}.")
        self.scheme = parts.scheme
        self.hostname = parts.hostname
        self.port = parts.port
        self.netloc = parts.netloc.rpartition("@")[2]
        self.base_path = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._failing = False
        self._lock = threading.Lock()

    def forward(self, visit: Visit) -> Answer:
        """Return Pausa's answer to the visit, or a short 502 when Pausa does not answer."""
        try:
            status, headers, body = self._exchange(visit)
        except (OSError, http.client.HTTPException, AnswerTooLarge) as error:
            self._failed(error)
            return Answer(502, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"),
                                ("Content-Length", str(len(UNAVAILABLE)))], UNAVAILABLE)
        self._recovered()
        return Answer(status, headers, body)

    def _exchange(self, visit: Visit) -> tuple[int, list[tuple[str, str]], bytes]:
        secure = self.scheme == "https"
        connection_class = http.client.HTTPSConnection if secure else http.client.HTTPConnection
        connection = connection_class(self.hostname, self.port, timeout=self.connect_timeout)
        try:
            connection.connect()
            # The connect had its own, shorter bound; from now on each read waits at most `timeout`.
            connection.sock.settimeout(self.timeout)
            connection.request(visit.method, self.base_path + visit.target, body=visit.body or None,
                               headers=self.upstream_headers(visit))
            response = connection.getresponse()
            body = b"" if visit.method == "HEAD" else response.read(MAX_ANSWER + 1)
            if len(body) > MAX_ANSWER:
                raise AnswerTooLarge(f"Pausa's answer to {visit.target} is over {MAX_ANSWER} bytes")
            headers = [(name, value) for name, value in response.getheaders()
                       if name.lower() not in HOP_BY_HOP and name.lower() != "content-length"]
            if visit.method != "HEAD":
                headers.append(("Content-Length", str(len(body))))
            elif response.getheader("Content-Length") is not None:
                headers.append(("Content-Length", response.getheader("Content-Length")))
            return response.status, headers, body
        finally:
            connection.close()

    def upstream_headers(self, visit: Visit) -> dict[str, str]:
        """Return the headers Pausa gets: the visitor's, less hop-by-hop ones, plus where it came from."""
        named_by_connection = set()
        forwarded_for = ""
        cookies = []
        for name, value in visit.headers:
            lowered = name.lower()
            if lowered == "connection":
                named_by_connection |= {token.strip().lower() for token in value.split(",")}
            elif lowered == "x-forwarded-for":
                forwarded_for = value.strip()
            elif lowered == "cookie":
                cookies += [part.strip() for part in value.split(";")
                            if part.strip().startswith(PAUSA_COOKIE_PREFIX)]
        headers: dict[str, str] = {}
        for name, value in visit.headers:
            lowered = name.lower()
            if lowered in HOP_BY_HOP or lowered in REWRITTEN or lowered in named_by_connection:
                continue
            # Two headers of one name become one list (RFC 9110, 5.3); http.client sends a dict.
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        # Pausa's own name: a router or a certificate in front of Pausa goes by it.
        headers["Host"] = self.netloc
        if visit.host:
            headers["X-Forwarded-Host"] = visit.host
        headers["X-Forwarded-Proto"] = visit.scheme
        if visit.client_ip:
            # Appended, as every proxy does: Pausa believes only as many hops as TRUSTED_PROXY_COUNT says.
            forwarded_for = f"{forwarded_for}, {visit.client_ip}" if forwarded_for else visit.client_ip
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        if cookies:
            headers["Cookie"] = "; ".join(cookies)
        if visit.body:
            headers["Content-Length"] = str(len(visit.body))
        return headers

    def _failed(self, error: Exception) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:
            log.warning("Pausa at %s does not answer the visitors' prefix: %s", self.netloc, error)

    def _recovered(self) -> None:
        if self._failing:
            with self._lock:
                self._failing = False
            log.warning("Pausa at %s answers the visitors' prefix again", self.netloc)


class AnswerTooLarge(Exception):
    """Pausa's answer is larger than any page or asset it serves: not forwarded."""


class BodyTooLarge(Exception):
    """The visitor's body is larger than anything Pausa takes under the prefix."""


def too_large() -> Answer:
    """Answer a visitor whose body under the prefix is too large to forward."""
    body = b"Request body too large.\n"
    return Answer(413, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store"),
                        ("Content-Length", str(len(body)))], body)

