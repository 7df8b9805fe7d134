"""The public status page and its feeds: iCalendar (maintenance.ics) and Atom (feed.atom).

Mounted twice, like the maintenance page: at /status, and as `visitor_status` under the visitors'
prefix (GATE_PUBLIC_PREFIX), where the page is /_pausa/status/ with its slash, because
/_pausa/status is the maintenance page's poll. No login, no personal data, one answer per
language: public caches may keep it for a few seconds and revalidate with the ETag (docs/status.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from flask_babel import get_locale, gettext
from pausa_gate.windows import is_in_effect, utcnow

from ..branding import BRANDING_KEY
from ..gate.inapp import gate_state
from ..i18n import reason_label, utc_datetime
from ..maintenance import status_feed
from ..maintenance.status_feed import PublicEvent, PublicWindow
from ..services import status as status_service
from . import standing

bp = Blueprint("status", __name__, url_prefix="/status")

MAX_AGE = 15
CALENDAR_TYPE = "text/calendar; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def _language() -> str:
    return str(get_locale())


def _conditional(kind: str, build: Callable[[datetime], Response]) -> Response:
    """Answer 304 when the client's copy is current (before any query), else build the answer.

    The ETag comes from the state version, the language, the day and the windows in effect by
    the clock, all known without the database (the gate's cached state), and from the address:
    links are made from the address asked, and so are UIDs and ids when PUBLIC_URL is unset.
    """
    now = utcnow()
    state = gate_state()
    in_effect = [window.id for window in state.windows if is_in_effect(window, now)]
    variant = f"{request.blueprint}:{kind}:{request.host_url}:{_host()}"
    tag = status_feed.page_tag(state.version, _language(), now, in_effect, variant)
    response = Response(status=304) if request.if_none_match.contains(tag) else build(now)
    response.set_etag(tag)
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    # The words follow the visitor's language: Accept-Language, or the switcher's cookie.
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def page() -> Response:
    """Show what is in effect, what is planned and the last 90 days of maintenance."""

    def build(now: datetime) -> Response:
        view = status_feed.status_view(status_service.public_windows(now), now)
        endpoint = request.blueprint
        return Response(render_template(
            "status/page.html", view=view, language=_language(), history_days=status_feed.HISTORY_DAYS,
            calendar_url=url_for(f"{endpoint}.calendar"), atom_url=url_for(f"{endpoint}.atom"),
            subscribe_url=standing.subscribe_url(),
        ))

    return _conditional("page", build)


@bp.record
def _add_page_rule(state: BlueprintSetupState) -> None:
    """Serve the page at the mount point itself (/status), or at `page_rule` ("/" under the prefix)."""
    state.add_url_rule(state.options.get("page_rule", ""), "page", page, methods=["GET"])


@bp.get("/maintenance.ics")
def calendar() -> Response:
    """Give every planned, active and recent window as an iCalendar event that follows its changes."""

    def build(now: datetime) -> Response:
        events = status_feed.calendar_events(status_service.public_windows(now), now, _host())
        return Response(_calendar_document(events), content_type=CALENDAR_TYPE)

    return _conditional("ics", build)


@bp.get("/feed.atom")
def atom() -> Response:
    """Tell of announcements, starts, changes, ends and cancellations of the last 90 days (Atom)."""

    def build(now: datetime) -> Response:
        windows = {window.id: window for window in status_service.public_windows(now)}
        events = status_service.public_events(now)
        return Response(_atom_document(events, windows, now), content_type=ATOM_TYPE)

    return _conditional("atom", build)


def _host() -> str:
    """The host in event UIDs: PUBLIC_URL's, so they stay the same whichever address was asked."""
    configured = current_app.config.get("PUBLIC_URL")
    return (urlsplit(configured).hostname if configured else None) or request.host.split(":")[0]


def _calendar_name() -> str:
    site = current_app.extensions[BRANDING_KEY].site_name
    return gettext("%(site)s maintenance", site=site) if site else gettext("Planned maintenance")


def _summary(window: PublicWindow) -> str:
    if window.reason.value == "other":
        return gettext("Maintenance")
    return gettext("Maintenance: %(reason)s", reason=reason_label(window.reason))


def _calendar_document(events: list[status_feed.CalendarEvent]) -> bytes:
    """Serialise the events with the icalendar library (RFC 5545), times in UTC."""
    from icalendar import Calendar, Event  # local: ~60 ms to import, paid by the first calendar asked only

    calendar = Calendar()
    calendar.add("prodid", "-//Pausa//Maintenance windows//EN")
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", _calendar_name())
    page_url = url_for(f"{request.blueprint}.page", _external=True)
    for event in events:
        entry = Event()
        entry.add("uid", event.uid)
        # The moment this event's information last changed, so equal ETags carry equal bytes.
        entry.add("dtstamp", event.last_modified)
        entry.add("last-modified", event.last_modified)
        entry.add("dtstart", event.starts_at)
        entry.add("dtend", event.ends_at)
        entry.add("sequence", event.sequence)
        entry.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
        entry.add("summary", _summary(event.window))
        entry.add("description", event.window.message_in(_language()))
        entry.add("url", page_url)
        entry.add("transp", "OPAQUE")
        calendar.add_component(entry)
    return calendar.to_ical()


def _entry_title(event: PublicEvent, window: PublicWindow | None) -> str:
    """Say what happened, in the reader's language."""
    why = reason_label(window.reason) if window else gettext("Maintenance")
    titles = {
        "scheduled": gettext("Maintenance planned: %(reason)s", reason=why),
        "started": gettext("Maintenance started: %(reason)s", reason=why),
        "updated": gettext("Maintenance changed: %(reason)s", reason=why),
        "ended": gettext("Maintenance ended: %(reason)s", reason=why),
        "cancelled": gettext("Maintenance cancelled: %(reason)s", reason=why),
    }
    return titles[status_feed.feed_kind(event)]


def _entry_content(event: PublicEvent, window: PublicWindow | None) -> str:
    """Give the window's times and message, as plain text (times in UTC)."""
    lines = []
    if window is not None:
        starts_at = status_feed.parse_moment(event.after.get("starts_at")) or window.starts_at
        lines.append(gettext("Starts: %(time)s", time=utc_datetime(starts_at)))
        eta = status_feed.parse_moment(event.after.get("eta")) if "eta" in event.after else window.eta
        if eta is not None:
            lines.append(gettext("Expected back: %(time)s", time=utc_datetime(eta)))
        kind = status_feed.feed_kind(event)
        if kind == "ended" and window.ended_at is not None:
            lines.append(gettext("Ended: %(time)s", time=utc_datetime(window.ended_at)))
        message = window.message_in(_language())
        if message:
            lines.append(message)
    return "\n".join(lines)


def _atom_document(events: list[PublicEvent], windows: dict[int, PublicWindow], now: datetime) -> bytes:
    endpoint = request.blueprint
    link = url_for(f"{endpoint}.page", _external=True)
    host = _host()
    entries = [
        status_feed.AtomEntry(
            id=f"tag:{host},2026:pausa/audit/{event.id}",
            title=_entry_title(event, windows.get(event.window_id)),
            updated=event.at,
            content=_entry_content(event, windows.get(event.window_id)),
            link=link,
        )
        for event in events
    ]
    # Without entries, the start of the day: the same instant for as long as the ETag holds.
    updated = entries[0].updated if entries else now.replace(hour=0, minute=0, second=0, microsecond=0)
    return status_feed.atom_document(
        feed_id=f"tag:{host},2026:pausa/status", title=_calendar_name(), link=link,
        self_link=url_for(f"{endpoint}.atom", _external=True), language=_language(),
        entries=entries, updated=updated,
    )
