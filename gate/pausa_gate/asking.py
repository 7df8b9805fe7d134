"""What the gate knows of one request, read the same way by every entry point.

The in-app gate and the fast path read the request they are answering; the
edge check reads the request a reverse proxy describes in its forwarded
headers. All three then classify it here — a JSON client? an htmx swap? does
it carry an identity? — so they can never disagree.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import unquote, urlsplit

from .headers import weighted
from .state import IpNetwork

# Longest forwarded URI the edge check reads; longer is refused (400), never guessed at.
MAX_URI = 8192


@dataclass(frozen=True, slots=True)
class Ask:
    """One request the gate answers for."""

    method: str
    path: str
    uri: str  # path and query as sent, for the "retry" redirect of the nginx recipe
    accept: str = ""
    htmx: bool = False
    history_restore: bool = False
    authorization: bool = False
    cookie_header: str = ""
    accept_language: str = ""
    client_ip: str | None = None

    @property
    def wants_json(self) -> bool:
        """Tell whether the client asked for JSON: an API path, or an Accept preferring it."""
        return self.path == "/api" or self.path.startswith("/api/") or prefers_json(self.accept)

    @property
    def wants_fragment(self) -> bool:
        """Tell whether htmx swaps the answer in (a history restore wants the whole page)."""
        return self.htmx and not self.history_restore

    @property
    def writes(self) -> bool:
        """Tell whether the request would change something (its method is not a safe one)."""
        return self.method.upper() not in ("GET", "HEAD", "OPTIONS")

    def cookie(self, name: str) -> str | None:
        return read_cookie_header(self.cookie_header, name)

    def carries_any_cookie(self, names: Iterable[str]) -> bool:
        """Tell, cheaply, whether one of these cookies may be present (a false yes only costs time)."""
        header = self.cookie_header
        return bool(header) and any(f"{name}=" in header for name in names)


@lru_cache(maxsize=256)
def prefers_json(accept: str) -> bool:
    """Tell whether an Accept header ranks JSON above HTML (cached: clients send a few values)."""
    if "json" not in accept:
        return False
    ranges = _media_ranges(accept)
    return _quality(ranges, "application", "json") > _quality(ranges, "text", "html")


def _media_ranges(accept: str) -> list[tuple[str, str, float]]:
    ranges = []
    for media, quality in weighted(accept):
        kind, _, subtype = media.partition("/")
        if kind and subtype:
            ranges.append((kind, subtype, quality))
    return ranges


def _quality(ranges: list[tuple[str, str, float]], kind: str, subtype: str) -> float:
    """Return the weight the most specific matching range gives a media type (0 when none matches)."""
    best_specificity, best_quality = -1, 0.0
    for range_kind, range_subtype, quality in ranges:
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype == "*":
            specificity = 0
        else:
            continue
        if specificity > best_specificity:
            best_specificity, best_quality = specificity, quality
    return best_quality


def read_cookie_header(header: str, name: str) -> str | None:
    """Read one cookie's value from a raw Cookie header, without parsing them all."""
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def ask_from_environ(environ: dict, path: str | None = None) -> Ask:
    """Describe the request a WSGI environ holds (the in-app gate and its fast path)."""
    return Ask(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=path if path is not None else (environ.get("PATH_INFO") or "/"),
        uri=environ.get("RAW_URI") or environ.get("PATH_INFO") or "/",
        accept=environ.get("HTTP_ACCEPT", ""),
        htmx=environ.get("HTTP_HX_REQUEST") == "true",
        history_restore="HTTP_HX_HISTORY_RESTORE_REQUEST" in environ,
        authorization="HTTP_AUTHORIZATION" in environ,
        cookie_header=environ.get("HTTP_COOKIE", ""),
        accept_language=environ.get("HTTP_ACCEPT_LANGUAGE", ""),
        client_ip=environ.get("REMOTE_ADDR"),
    )


class NotDescribed(ValueError):
    """The proxy did not say which request it asks about (a configuration mistake)."""


def forwarded_asks(environ: dict, trusted_proxies: tuple[IpNetwork, ...]) -> tuple[Ask, ...]:
    """Describe the request a reverse proxy asks about; two when its headers disagree.

    Traefik and Caddy send X-Forwarded-Method/-Uri, nginx recipes X-Original-Method/-URI.
    A proxy sets its own convention's headers but passes the other's from the client
    unchanged; so when both are present and differ, both requests are decided and the
    stricter answer wins: nothing a client adds can widen access.
    """
    described = []
    for method_key, uri_key in (
        ("HTTP_X_FORWARDED_METHOD", "HTTP_X_FORWARDED_URI"),
        ("HTTP_X_ORIGINAL_METHOD", "HTTP_X_ORIGINAL_URI"),
    ):
        uri = environ.get(uri_key)
        if uri is None:
            continue
        if len(uri) > MAX_URI:
            raise NotDescribed("The forwarded URI is too long.")
        method = (environ.get(method_key) or "GET").strip().upper()
        if not method.isalpha() or len(method) > 16:
            raise NotDescribed("The forwarded method is not an HTTP method.")
        described.append((method, uri.strip()))
    if not described:
        raise NotDescribed("Send X-Forwarded-Uri (Traefik, Caddy) or X-Original-URI (nginx).")
    client_ip = forwarded_client_ip(environ, trusted_proxies)
    base = ask_from_environ(environ)
    # The visitor's own headers, with the described request's method, path and client IP;
    # the same request described twice counts once.
    return tuple(
        replace(base, method=method, path=path_of(uri), uri=uri, client_ip=client_ip)
        for method, uri in dict.fromkeys(described)
    )


def path_of(uri: str) -> str:
    """Return the decoded path of a request target ("/a%20b?q=1" or an absolute URL)."""
    if not uri.startswith("/"):  # an absolute URL; "//x" is a path the application will see
        uri = urlsplit(uri).path or "/"
    path = uri.split("?", 1)[0].split("#", 1)[0]
    return unquote(path) or "/"


def forwarded_client_ip(environ: dict, trusted_proxies: tuple[IpNetwork, ...]) -> str | None:
    """Return the visitor's IP from X-Forwarded-For, only when a trusted proxy is asking.

    The rightmost address that is not a trusted proxy is the client: everything left
    of it was written by the client itself and proves nothing. An untrusted caller
    gets no client IP at all, so no IP allowlist can be matched through it.
    """
    peer = socket_peer(environ)
    if not trusted_proxies or not _is_trusted(peer, trusted_proxies):
        return None
    chain = [part.strip() for part in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    for address in reversed(chain):
        if not _is_trusted(address, trusted_proxies):
            return address
    return chain[0] if chain else None


def parse_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    """Read IPs and CIDRs (GATE_TRUSTED_PROXIES); raise ValueError naming a wrong entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR network.") from None
    return tuple(networks)


def socket_peer(environ: dict) -> str | None:
    """Return the address that opened this connection (before ProxyFix rewrote REMOTE_ADDR)."""
    original = environ.get("werkzeug.proxy_fix.orig")
    if original:
        return original.get("REMOTE_ADDR")
    return environ.get("REMOTE_ADDR")


def _is_trusted(address: str | None, networks: tuple[IpNetwork, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in networks)
