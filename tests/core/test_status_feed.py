"""What the status page and its feeds say about windows: sorting, durations, calendar events, Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import timedelta

from pausa_gate.state import Mode, Reason, Status

from app.maintenance import status_feed
from app.maintenance.status_feed import ATOM, AtomEntry, PublicWindow

from .factories import NOW, minutes


def public(**overrides) -> PublicWindow:
    fields = {
        "id": 1, "status": Status.COMPLETED, "reason": Reason.DATABASE, "mode": Mode.FULL,
        "message": "Upgrading the database.", "starts_at": NOW - timedelta(days=2),
        "changed_at": NOW - timedelta(days=2),
    }
    fields.update(overrides)
    return PublicWindow(**fields)


def test_the_view_sorts_windows_into_now_planned_and_the_last_90_days():
    active = public(id=1, status=Status.ACTIVE, starts_at=NOW - minutes(5))
    started_by_the_clock = public(id=2, status=Status.SCHEDULED, starts_at=NOW - minutes(1),
                                  ends_at=NOW + minutes(30))
    later = public(id=3, status=Status.SCHEDULED, starts_at=NOW + timedelta(days=2))
    sooner = public(id=4, status=Status.SCHEDULED, starts_at=NOW + timedelta(days=1))
    recent = public(id=5, ended_at=NOW - timedelta(days=1))
    cancelled = public(id=6, status=Status.CANCELLED, ended_at=NOW - timedelta(days=3))
    too_old = public(id=7, starts_at=NOW - timedelta(days=95), ended_at=NOW - timedelta(days=91))

    view = status_feed.status_view([later, too_old, cancelled, recent, sooner, started_by_the_clock, active], NOW)

    assert [window.id for window in view.now] == [1, 2]
    assert [window.id for window in view.upcoming] == [4, 3]
    assert [window.id for window in view.past] == [5, 6]


def test_a_completed_window_lasted_from_its_start_to_its_end_and_a_cancelled_one_did_not_happen():
    done = public(started_at=NOW - minutes(95), ended_at=NOW - minutes(10))
    assert done.duration == minutes(85)
    assert public(status=Status.CANCELLED, ended_at=NOW).duration is None


def test_the_message_follows_the_visitor_language():
    window = public(messages=(("pt-BR", "Atualizando o banco."),))
    assert window.message_in("pt_BR") == "Atualizando o banco."
    assert window.message_in("en") == "Upgrading the database."


def test_calendar_events_end_at_the_real_end_else_the_automatic_end_else_the_eta_else_one_hour_later():
    start = NOW + timedelta(days=1)
    assert status_feed.event_end(public(ended_at=NOW - minutes(1), ends_at=NOW + minutes(9))) == NOW - minutes(1)
    planned = public(status=Status.SCHEDULED, starts_at=start, eta=start + minutes(30), ends_at=start + minutes(90))
    assert status_feed.event_end(planned) == start + minutes(90)
    assert status_feed.event_end(public(status=Status.SCHEDULED, starts_at=start, eta=start + minutes(30))) == (
        start + minutes(30)
    )
    open_ended = public(status=Status.ACTIVE, starts_at=NOW - minutes(5))
    assert status_feed.event_end(open_ended) == NOW - minutes(5) + timedelta(hours=1)


def test_calendar_events_have_stable_uids_their_changes_as_sequence_and_say_cancelled():
    windows = [
        public(id=8, status=Status.CANCELLED, starts_at=NOW + minutes(60), ends_at=NOW + minutes(120),
               ended_at=NOW - minutes(1), changes=1),
        public(id=9, status=Status.SCHEDULED, starts_at=NOW + minutes(30), changes=3),
    ]
    events = status_feed.calendar_events(windows, NOW, "status.example.com")
    assert [(event.uid, event.sequence, event.cancelled) for event in events] == [
        ("window-9@status.example.com", 3, False),
        ("window-8@status.example.com", 1, True),
    ]


def test_an_edit_of_only_private_fields_tells_the_feed_nothing():
    private = {"after": {"allowed_ips": ["203.0.113.7/32"], "allowed_roles": ["qa"]}}
    assert status_feed.public_event(3, "maintenance.updated", NOW, "window:1", private) is None
    mixed = {"after": {"allowed_ips": ["203.0.113.7/32"], "eta": NOW.isoformat()}}
    event = status_feed.public_event(4, "maintenance.updated", NOW, "window:1", mixed)
    assert event is not None and event.changed == ("eta",) and "allowed_ips" not in event.after
    assert status_feed.public_event(5, "maintenance.overdue", NOW, "window:1", None) is None
    assert status_feed.feed_kind(status_feed.public_event(6, "maintenance.activated", NOW, "window:2", {})) == (
        "started"
    )


def test_the_etag_rolls_with_the_day_the_language_the_version_and_what_is_in_effect():
    tag = status_feed.page_tag(4, "en", NOW, [1])
    assert tag == status_feed.page_tag(4, "en", NOW + minutes(1), [1])
    assert tag != status_feed.page_tag(4, "en", NOW + timedelta(days=1), [1])
    assert tag != status_feed.page_tag(4, "pt_BR", NOW, [1])
    assert tag != status_feed.page_tag(5, "en", NOW, [1])
    assert tag != status_feed.page_tag(4, "en", NOW, [])


def test_the_atom_document_has_the_elements_rfc_4287_requires():
    entry = AtomEntry(id="tag:example.com,2026:pausa/audit/7", title="Maintenance planned",
                      updated=NOW, content="Starts: 3/15/26", link="https://example.com/status")
    document = status_feed.atom_document("tag:example.com,2026:pausa/status", "Planned maintenance",
                                         "https://example.com/status", "https://example.com/status/feed.atom",
                                         "pt_BR", [entry], NOW)
    feed = ElementTree.fromstring(document)
    assert feed.tag == f"{{{ATOM}}}feed"
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "pt-BR"
    assert feed.findtext(f"{{{ATOM}}}updated") == "2026-03-14T12:00:00Z"
    (node,) = feed.findall(f"{{{ATOM}}}entry")
    assert node.findtext(f"{{{ATOM}}}id") == "tag:example.com,2026:pausa/audit/7"
    assert node.find(f"{{{ATOM}}}content").get("type") == "text"


def test_windows_whose_end_passed_unrecorded_are_past_with_their_planned_end():
    overrun = public(id=1, status=Status.ACTIVE, starts_at=NOW - minutes(90), ends_at=NOW - minutes(30))
    missed = public(id=2, status=Status.SCHEDULED, starts_at=NOW - minutes(60), ends_at=NOW - minutes(10))

    view = status_feed.status_view([overrun, missed], NOW)

    assert view.now == [] and view.upcoming == [] and [window.id for window in view.past] == [2, 1]
    ends = {event.window.id: event.ends_at for event in status_feed.calendar_events([overrun, missed], NOW, "h")}
    assert ends == {1: NOW - minutes(30), 2: NOW - minutes(10)}


def test_the_history_starts_90_days_before_the_start_of_the_utc_day():
    day = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    edge = public(id=1, starts_at=day - timedelta(days=90), ended_at=day - timedelta(days=90) + minutes(1))

    for moment in (day, day + timedelta(hours=23, minutes=59)):
        assert status_feed.history_start(moment) == day - timedelta(days=90)
        assert [window.id for window in status_feed.status_view([edge], moment).past] == [1]
