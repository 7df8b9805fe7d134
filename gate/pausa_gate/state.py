"""Frozen snapshots of maintenance state that the gate decides on."""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime


class Mode(enum.StrEnum):
    FULL = "full"
    READ_ONLY = "read_only"
    SCOPED = "scoped"


class Reason(enum.StrEnum):
    DEPLOYMENT = "deployment"
    DATABASE = "database"
    TESTING = "testing"
    INCIDENT = "incident"
    OTHER = "other"


class Status(enum.StrEnum):
    SCHEDULED = "scheduled"
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


ROLES = ("admin", "developer", "qa", "user")
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def language_tag(language: str) -> str:
    """Return the BCP 47 tag of a language code: `pt_BR` → `pt-BR` (messages are keyed by tag)."""
    return language.replace("_", "-")


def message_pairs(messages: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    """Freeze a {language tag: text} map into the sorted pairs a WindowState holds."""
    return tuple(sorted((str(tag), str(text)) for tag, text in (messages or {}).items()))


@dataclass(frozen=True)
class WindowState:
    """What the gate needs to know about one maintenance window."""

    id: int
    status: Status
    mode: Mode
    reason: Reason
    message: str
    starts_at: datetime
    eta: datetime | None = None
    ends_at: datetime | None = None
    notice_minutes: int = 0
    drain_minutes: int = 0
    scope_paths: tuple[str, ...] = ()
    allowed_roles: frozenset[str] = frozenset()
    allowed_networks: tuple[IpNetwork, ...] = ()
    pause_webhook_processing: bool = False
    # The message in other languages, as (language tag, text) pairs sorted by tag, e.g.
    # (("pt-BR", "Voltamos logo."),); a tuple, so the window stays hashable (pages are cached by it).
    messages: tuple[tuple[str, str], ...] = ()

    def message_in(self, language: str | None) -> str:
        """Return the message for visitors in `language` (pt_BR or pt-BR), else the default message."""
        if language:
            tag = language_tag(language)
            for known, text in self.messages:
                if known == tag:
                    return text
        return self.message


@dataclass(frozen=True)
class BypassKey:
    """A live bypass link as every gate knows it: never its token, only a digest of its cookie."""

    link_id: int
    window_id: int
    expires_at: datetime
    # SHA-256 (hex) of the secret part of the link's cookie: checking needs no secret of Pausa's.
    cookie_digest: str
    # The same digest under each of SECRET_KEY_FALLBACKS, so cookies set before a key rotation still work.
    fallback_digests: tuple[str, ...] = ()


@dataclass(frozen=True)
class GateState:
    """Every window that can still affect traffic, as of one state version."""

    version: int = 0
    windows: tuple[WindowState, ...] = ()
    stale: bool = False
    # The bypass links that still work (not revoked, not expired, for a live window).
    bypass_links: frozenset[BypassKey] = frozenset()
    # True only for the stand-in state of MAINTENANCE_FAIL_MODE=closed: nothing at all is known.
    unknown: bool = False
    # True when it holds changes an operator made while the database was down, not yet written to
    # it: the database's older state must not replace it (docs/fail-safe.md).
    pending: bool = False


DEFAULT_MESSAGE = "We are performing scheduled maintenance and will be back shortly."
"""What a window says when its author gave no message (the server, and the CLI comparing windows)."""

UNKNOWN_WINDOW_ID = -1
"""The id of the stand-in window: real windows are numbered from 1, the unsaved preview is 0."""


def unknown_state() -> GateState:
    """Stand in when no store answers and nothing was ever known: one open-ended full window.

    Allowlisted paths (health checks, webhooks, the admin) still pass the gate;
    everything else gets the generic "temporarily unavailable" page.
    """
    window = WindowState(
        id=UNKNOWN_WINDOW_ID,
        status=Status.ACTIVE,
        mode=Mode.FULL,
        reason=Reason.OTHER,
        message="",
        starts_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    return GateState(version=0, windows=(window,), stale=True, unknown=True)


@dataclass(frozen=True)
class Viewer:
    """Who is asking: their role (None when anonymous) and token scopes."""

    role: str | None = None
    token_scopes: frozenset[str] = frozenset()


ANONYMOUS = Viewer()


@dataclass(frozen=True)
class RequestFacts:
    """The parts of an HTTP request the gate may look at."""

    path: str
    method: str = "GET"
    bypass_window_id: int | None = None


@dataclass(frozen=True)
class Actor:
    """Who made a change, for the audit trail: `alice@example.com`, `cli:deploy`, `token:ci`, `system`."""

    name: str
    ip: str | None = None
    user_agent: str | None = None


SYSTEM = Actor("system")
