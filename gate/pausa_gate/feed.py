"""The state feed (`GET /gate/state`): everything a host app's gate needs to decide and answer alone.

One JSON object: the versioned gate-state document (windows, modes,
allowlists, live bypass links as cookie digests), the gate's settings (the
protected app's allowlist, the public prefix, the poll delays, the fail mode)
and the maintenance page rendered per window, language and variant with slots
(`pausa_gate.pages`). No secret and nothing personal. A host app keeps the last
feed it received on disk and reads it on boot (docs/embedded.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import document
from .pages import FeedPages
from .state import GateState, unknown_state

FORMAT = 1


class FeedError(ValueError):
    """The text is not a state feed this version of pausa-gate can trust."""


@dataclass(frozen=True)
class Feed:
    """One state feed, parsed."""

    state: GateState
    published_at: datetime | None
    allowlist: tuple[str, ...]
    prefix: str
    status_url: str
    poll_range: tuple[int, int]
    fail_mode: str
    pages: FeedPages
    data: Mapping[str, Any]

    @property
    def etag(self) -> str:
        return etag_of(self.data)

    @classmethod
    def from_json(cls, data: Any) -> Feed:
        """Read a feed (parsed JSON); refuse anything malformed."""
        if isinstance(data, (str, bytes)):
            try:
                data = json.loads(data)
            except ValueError as error:
                raise FeedError(f"not JSON: {error}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FeedError("not a state feed of a format this pausa-gate knows")
        try:
            state = document.from_document(data["state"])
            published_at = document.published_at(data["state"])
            gate = data["gate"]
            prefix = str(gate["prefix"])
            low, high = (int(value) for value in gate["poll_seconds"])
            fail_mode = str(gate.get("fail_mode", "closed"))
            if fail_mode not in ("closed", "open") or not prefix.startswith("/"):
                raise ValueError("unknown fail mode or prefix")
            return cls(
                state=state,
                published_at=published_at,
                allowlist=tuple(str(path) for path in gate["allowlist"]),
                prefix=prefix,
                status_url=str(gate["status_url"]),
                poll_range=(low, high),
                fail_mode=fail_mode,
                pages=FeedPages(data.get("pages"), (low, high)),
                data=data,
            )
        except document.DocumentError as error:
            raise FeedError(str(error)) from None
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise FeedError(f"malformed state feed: {error}") from None

    @classmethod
    def unknown(cls, fail_mode: str = "closed", prefix: str = "/_pausa") -> Feed:
        """Stand in when nothing at all is known: the fail mode decides (closed blocks everything)."""
        state = unknown_state() if fail_mode == "closed" else GateState(stale=True)
        data = build(document.to_document(state), allowlist=(prefix,), prefix=prefix,
                     status_url=prefix + "/status.json", poll_range=(5, 30), fail_mode=fail_mode, pages={})
        # The document does not carry "unknown" or "stale" (a feed is always known): keep them here.
        return replace(cls.from_json(data), state=state)

    def to_json(self) -> str:
        return dumps(self.data)


def build(
    state_document: Mapping[str, Any], *, allowlist: tuple[str, ...], prefix: str, status_url: str,
    poll_range: tuple[int, int], fail_mode: str, pages: Mapping[str, Any],
) -> dict[str, Any]:
    """Assemble a feed (Pausa's side)."""
    return {
        "format": FORMAT,
        "state": dict(state_document),
        "gate": {
            "allowlist": list(allowlist),
            "prefix": prefix,
            "status_url": status_url,
            "poll_seconds": list(poll_range),
            "fail_mode": fail_mode,
        },
        "pages": dict(pages),
    }


def dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def etag_of(data: Mapping[str, Any]) -> str:
    """Name a feed's content: the same content always gets the same strong ETag."""
    version = data.get("state", {}).get("version", 0) if isinstance(data.get("state"), Mapping) else 0
    return f'"{version}-{hashlib.sha256(dumps(data).encode()).hexdigest()[:20]}"'
