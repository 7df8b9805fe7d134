"""The gate state as one versioned JSON document: published to Redis, saved to a local snapshot file.

The document holds exactly what `decide()` needs and nothing secret or personal:
windows (times, mode, texts, allowlists) and the ids of the bypass links that
still work. Any worker that holds it can enforce maintenance without the
database; see docs/fail-safe.md.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .state import BypassKey, GateState, Mode, Reason, Status, WindowState, message_pairs

FORMAT = 2
"""Raised whenever the document's shape changes; a reader refuses formats it does not know.

Format 1 listed bypass links by id only; it is still read (its links carry no cookie digest,
so they let nobody through until the next state arrives).

A link's `fallback_digests` (its cookie digests under the keys being rotated out) is optional and
did not move the format either: a reader that predates it honours only cookies made with the
current key, as it did before.

A window's `messages` ({language tag: text}) is optional and did not move the format: a reader
that predates it ignores the key and shows the default `message`, which is right for every
visitor but the ones a translation was written for; a document without it has no translations.
"""
READABLE = (1, 2)


class DocumentError(ValueError):
    """The text is not a gate-state document this version of Pausa can trust."""


def to_document(state: GateState, published_at: datetime | None = None) -> dict[str, Any]:
    """Describe a state as plain JSON-ready data."""
    return {
        "format": FORMAT,
        "version": state.version,
        "published_at": published_at.isoformat() if published_at else None,
        "windows": [_window_document(window) for window in state.windows],
        "bypass_links": [
            _bypass_document(key) for key in sorted(state.bypass_links, key=lambda key: key.link_id)
        ],
        "pending": state.pending,
    }


def from_document(data: Mapping[str, Any]) -> GateState:
    """Rebuild a state from its document; refuse anything malformed."""
    try:
        if isinstance(data["format"], bool) or data["format"] not in READABLE:
            raise DocumentError(f"unknown gate-state format {data['format']!r}")
        version = data["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 0:
            raise DocumentError("the version must be a whole number")
        return GateState(
            version=version,
            windows=tuple(_window_state(item) for item in data["windows"]),
            bypass_links=frozenset(_bypass_key(item, data["format"]) for item in data["bypass_links"]),
            pending=bool(data.get("pending", False)),
        )
    except DocumentError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise DocumentError(f"malformed gate-state document: {error}") from None


def published_at(data: Mapping[str, Any]) -> datetime | None:
    """Return when the document was published, if it says."""
    value = data.get("published_at")
    try:
        return _aware(value) if value else None
    except (TypeError, ValueError):
        return None


def dumps(state: GateState, published_at: datetime | None = None) -> str:
    """Serialise a state to compact JSON text."""
    return json.dumps(to_document(state, published_at), separators=(",", ":"), sort_keys=True)


def loads(text: str | bytes) -> tuple[GateState, datetime | None]:
    """Parse document text into the state and its publication time."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as error:
        raise DocumentError(f"not JSON: {error}") from None
    if not isinstance(data, dict):
        raise DocumentError("a gate-state document is a JSON object")
    return from_document(data), published_at(data)


def _window_document(window: WindowState) -> dict[str, Any]:
    return {
        "id": window.id,
        "status": window.status.value,
        "mode": window.mode.value,
        "reason": window.reason.value,
        "message": window.message,
        "messages": dict(window.messages),
        "starts_at": window.starts_at.isoformat(),
        "eta": window.eta.isoformat() if window.eta else None,
        "ends_at": window.ends_at.isoformat() if window.ends_at else None,
        "notice_minutes": window.notice_minutes,
        "drain_minutes": window.drain_minutes,
        "scope_paths": list(window.scope_paths),
        "allowed_roles": sorted(window.allowed_roles),
        "allowed_networks": [str(network) for network in window.allowed_networks],
        "pause_webhook_processing": window.pause_webhook_processing,
    }


def _window_state(item: Mapping[str, Any]) -> WindowState:
    return WindowState(
        id=int(item["id"]),
        status=Status(item["status"]),
        mode=Mode(item["mode"]),
        reason=Reason(item["reason"]),
        message=str(item["message"]),
        messages=_messages(item.get("messages")),
        starts_at=_aware(item["starts_at"]),
        eta=_aware(item["eta"]) if item.get("eta") else None,
        ends_at=_aware(item["ends_at"]) if item.get("ends_at") else None,
        notice_minutes=int(item.get("notice_minutes", 0)),
        drain_minutes=int(item.get("drain_minutes", 0)),
        scope_paths=tuple(str(path) for path in item.get("scope_paths", ())),
        allowed_roles=frozenset(str(role) for role in item.get("allowed_roles", ())),
        allowed_networks=tuple(
            ipaddress.ip_network(network, strict=False) for network in item.get("allowed_networks", ())
        ),
        pause_webhook_processing=bool(item.get("pause_webhook_processing", False)),
    )


def _messages(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not all(isinstance(text, str) for text in value.values()):
        raise ValueError("a window's messages map language tags to text")
    return message_pairs(value)


def _bypass_document(key: BypassKey) -> dict[str, Any]:
    item = {"id": key.link_id, "window_id": key.window_id, "expires_at": key.expires_at.isoformat(),
            "cookie_digest": key.cookie_digest}
    if key.fallback_digests:  # only while SECRET_KEY is being rotated
        item["fallback_digests"] = list(key.fallback_digests)
    return item


def _bypass_key(item: Any, document_format: int) -> BypassKey:
    if document_format == 1:  # an id alone: known, but no cookie can match it
        return BypassKey(int(item), 0, datetime.min.replace(tzinfo=UTC), "")
    digest = str(item["cookie_digest"])
    fallbacks = item.get("fallback_digests", ())
    if not isinstance(fallbacks, list | tuple):
        raise ValueError("a link's fallback digests are a list")
    fallbacks = tuple(str(value) for value in fallbacks)
    if any(len(value) != 64 for value in (digest, *fallbacks)):
        raise ValueError("a cookie digest is 64 hexadecimal characters")
    return BypassKey(int(item["id"]), int(item["window_id"]), _aware(item["expires_at"]), digest, fallbacks)


def _aware(value: Any) -> datetime:
    """Parse an ISO time that must carry its offset (a naive time would shift by the host's zone)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"time without an offset: {value!r}")
    return moment
