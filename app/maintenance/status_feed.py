"""What the public status page and its feeds say, from public facts of windows (docs/status.md).

Pure: no Flask, no database. The service hands in `PublicWindow`s and `PublicEvent`s built from
rows, with nothing personal in them (no actor, IP or user agent); the blueprint translates the
codes these rules return and serialises the documents.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pausa_gate.state import Mode, Reason, Status, language_tag
from pausa_gate.windows import LIVE_STATUSES

HISTORY_DAYS = 90
"""How far back the page and the feeds go."""

OPEN_ENDED_EVENT = timedelta(hours=1)
"""A calendar event needs an end: a window with neither an automatic end nor an ETA shows this long."""

# Audit actions that change what a calendar shows about a window (RFC 5545 SEQUENCE rises with each):
# an edit of its times or words, its cancellation, and its end (the real end replaces the planned one).
SEQUENCE_ACTIONS = ("maintenance.updated", "maintenance.cancelled", "maintenance.ended")

# Audit actions the Atom feed tells of, and the kind of entry each becomes: the public changes of a
# window (not the worker's maintenance.overdue and maintenance.ceiling_exceeded alerts).
FEED_KINDS = {
    "maintenance.scheduled": "scheduled",
    "maintenance.activated": "started",
    "maintenance.started": "started",
    "maintenance.updated": "updated",
    "maintenance.ended": "ended",
    "maintenance.cancelled": "cancelled",
}

# The fields of a window visitors may know of; an edit of any other (its IP allowlist, its roles)
# is nobody's business outside and makes no feed entry.
PUBLIC_FIELDS = frozenset({"starts_at", "eta", "ends_at", "message", "messages", "reason", "mode"})

PUBLIC_ACTIONS = tuple(FEED_KINDS)

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class PublicWindow:
    """What anyone may know of one window: its times, why, how much is paused and its message."""

    id: int
    status: Status
    reason: Reason
    mode: Mode
    message: str
    starts_at: datetime
    # When its public facts last changed: its latest audit entry of PUBLIC_ACTIONS (else its
    # creation), not updated_at, which also moves with the worker's private alert markers.
    changed_at: datetime
    eta: datetime | None = None
    ends_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    messages: tuple[tuple[str, str], ...] = ()
    # How many changes it went through (the audit entries of SEQUENCE_ACTIONS about it).
    changes: int = 0

    def message_in(self, language: str | None) -> str:
        """Return the message for visitors in `language` (pt_BR or pt-BR), else the default message."""
        if language:
            tag = language_tag(language)
            for known, text in self.messages:
                if known == tag:
                    return text
        return self.message

    def in_effect(self, now: datetime) -> bool:
        """Tell whether it blocks traffic at `now`, by the clock (as the gate decides)."""
        if self.status not in LIVE_STATUSES or now < self.starts_at:
            return False
        return self.ends_at is None or now < self.ends_at

    @property
    def duration(self) -> timedelta | None:
        """How long a completed window lasted; None for one that was cancelled or is not over."""
        if self.status is not Status.COMPLETED or self.ended_at is None:
            return None
        return max(timedelta(0), self.ended_at - (self.started_at or self.starts_at))


@dataclass(frozen=True)
class StatusView:
    """The page's three parts: in effect now, still to come (soonest first), the past (newest first)."""

    now: list[PublicWindow] = field(default_factory=list)
    upcoming: list[PublicWindow] = field(default_factory=list)
    past: list[PublicWindow] = field(default_factory=list)


def history_start(now: datetime) -> datetime:
    """Return the oldest moment the page and feeds still tell of: 90 days before today began (UTC).

    It moves once a day, with the ETag (page_tag), so a cached answer stays true all day long.
    """
    return now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=HISTORY_DAYS)


def status_view(windows: Iterable[PublicWindow], now: datetime) -> StatusView:
    """Sort windows into what is in effect, what is planned and what happened in the last 90 days.

    A window still scheduled or active whose end has passed (the worker has not recorded it yet)
    is past: the gate no longer applies it, and calendars must not lose its event meanwhile.
    """
    view = StatusView()
    since = history_start(now)
    for window in windows:
        if window.in_effect(now):
            view.now.append(window)
        elif window.status is Status.SCHEDULED and window.starts_at > now:
            view.upcoming.append(window)
        elif _closed_at(window) >= since:
            view.past.append(window)
    view.now.sort(key=lambda window: (window.starts_at, window.id))
    view.upcoming.sort(key=lambda window: (window.starts_at, window.id))
    view.past.sort(key=lambda window: (_closed_at(window), window.id), reverse=True)
    return view


def _closed_at(window: PublicWindow) -> datetime:
    return window.ended_at or window.ends_at or window.starts_at


def page_tag(version: int, language: str, now: datetime, in_effect: Iterable[int], variant: str = "") -> str:
    """Return the ETag of a page or feed: it moves with the state, the language, the day and the clock.

    The state version moves with every change; the day rolls "the past 90 days"; the windows in
    effect by the clock change at a planned start or automatic end before the worker records it.
    """
    parts = [str(version), language, now.date().isoformat(), ",".join(map(str, sorted(in_effect))), variant]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


# -- iCalendar ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEvent:
    """One VEVENT: the facts a calendar app needs to show a window and follow its changes."""

    uid: str
    window: PublicWindow
    starts_at: datetime
    ends_at: datetime
    sequence: int
    cancelled: bool
    last_modified: datetime


def event_end(window: PublicWindow) -> datetime:
    """Return DTEND: the real end once over, else the automatic end, else the ETA, else start + 1 h.

    A cancelled window keeps its planned span (STATUS:CANCELLED says it will not happen).
    """
    if window.status is Status.COMPLETED and window.ended_at is not None:
        end = window.ended_at
    else:
        end = window.ends_at or window.eta or window.starts_at + OPEN_ENDED_EVENT
    return max(end, window.starts_at + timedelta(minutes=1))  # DTEND must come after DTSTART


def calendar_events(windows: Iterable[PublicWindow], now: datetime, host: str) -> list[CalendarEvent]:
    """Return one event per planned, active and recent window, soonest first; UIDs never change."""
    view = status_view(windows, now)
    events = [
        CalendarEvent(
            uid=f"window-{window.id}@{host}",
            window=window,
            starts_at=window.starts_at,
            ends_at=event_end(window),
            sequence=window.changes,
            cancelled=window.status is Status.CANCELLED,
            last_modified=window.changed_at,
        )
        for window in (*view.now, *view.upcoming, *view.past)
    ]
    return sorted(events, key=lambda event: (event.starts_at, event.window.id))


# -- Atom ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublicEvent:
    """One audit entry about a window, reduced to its public facts: what happened and when."""

    id: int
    action: str
    at: datetime
    window_id: int
    # For an edit: the public fields it changed, with their new values.
    changed: tuple[str, ...] = ()
    after: Mapping[str, Any] = field(default_factory=dict)


def public_event(entry_id: int, action: str, at: datetime, target: str | None,
                 details: Mapping[str, Any] | None) -> PublicEvent | None:
    """Reduce an audit entry to what the feed may say; None when it tells nothing public."""
    if action not in FEED_KINDS or not (target or "").startswith("window:"):
        return None
    try:
        window_id = int((target or "").split(":", 1)[1])
    except ValueError:
        return None
    if action != "maintenance.updated":
        return PublicEvent(entry_id, action, at, window_id)
    after = (details or {}).get("after") or {}
    changed = tuple(sorted(name for name in after if name in PUBLIC_FIELDS))
    if not changed:
        return None  # only its allowlists or roles changed: nothing for the public
    return PublicEvent(entry_id, action, at, window_id, changed, {name: after[name] for name in changed})


def feed_kind(event: PublicEvent) -> str:
    """Return the kind of feed entry: scheduled, started, updated, ended or cancelled."""
    return FEED_KINDS[event.action]


def parse_moment(value: Any) -> datetime | None:
    """Read an ISO time from an audit entry's details; None for anything else."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class AtomEntry:
    """One entry of the feed, its words already in the reader's language."""

    id: str
    title: str
    updated: datetime
    content: str
    link: str


def atom_document(feed_id: str, title: str, link: str, self_link: str, language: str,
                  entries: list[AtomEntry], updated: datetime) -> bytes:
    """Serialise an Atom 1.0 feed (RFC 4287): id, title, updated, links, then the entries."""
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang":
                                                   language_tag(language)})
    _text(feed, "id", feed_id)
    _text(feed, "title", title)
    _text(feed, "updated", _atom_time(updated))
    ElementTree.SubElement(feed, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": link})
    ElementTree.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "type": "application/atom+xml",
                                                    "href": self_link})
    author = ElementTree.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", title)
    for entry in entries:
        node = ElementTree.SubElement(feed, f"{{{ATOM}}}entry")
        _text(node, "id", entry.id)
        _text(node, "title", entry.title)
        _text(node, "updated", _atom_time(entry.updated))
        ElementTree.SubElement(node, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html",
                                                        "href": entry.link})
        _text(node, "content", entry.content, type="text")
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)


def _text(parent: ElementTree.Element, name: str, text: str, **attributes: str) -> None:
    ElementTree.SubElement(parent, f"{{{ATOM}}}{name}", attributes).text = text


def _atom_time(moment: datetime) -> str:
    """RFC 3339 in UTC, to the second: 2026-03-14T12:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
