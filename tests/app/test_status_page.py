"""The public status page and its feeds: content in both languages, no personal data, ETag/304, ICS, Atom."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from datetime import datetime, timedelta

import pytest
from icalendar import Calendar
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app.maintenance.validation import validate_window
from app.services import clock as clock_service
from app.services import maintenance as maintenance_service
from app.services import scheduling as scheduling_service

ATOM = "{http://www.w3.org/2005/Atom}"
# Who acts in these tests, with everything the audit trail keeps about them: none of it is public.
ADMIN = Actor("admin@example.com", ip="203.0.113.77", user_agent="SecretBrowser/9.9")
PRIVATE = ("admin@example.com", "203.0.113.77", "SecretBrowser", "198.51.100.0/24")
MOUNTS = ("/status", "/_pausa/status/")


@pytest.fixture
def windows(app):
    """Schedule, activate, update, end and cancel windows as a real admin would, through the services."""

    class Windows:
        def activate(self, **fields):
            data = {"message": "Upgrading the database", "reason": "database", "mode": "read_only",
                    "eta": "30m", "ends_at": "1h", "messages": {"pt-BR": "Atualizando o banco de dados"},
                    "allowed_ips": ["198.51.100.0/24"], **fields}
            with app.app_context():
                return maintenance_service.activate_window(validate_window(data, utcnow()), ADMIN).id

        def update(self, **fields):
            with app.app_context():
                maintenance_service.update_window(validate_window(fields, utcnow(), partial=True), ADMIN)

        def end(self):
            with app.app_context():
                maintenance_service.end_window(ADMIN)

        def schedule(self, **fields):
            data = {"message": "Moving to a new data centre", "reason": "deployment", "starts_at": "2d",
                    "ends_at": "2h", "messages": {"pt-BR": "Mudando de data center"}, **fields}
            with app.app_context():
                return scheduling_service.schedule_window(validate_window(data, utcnow()), ADMIN).id

        def update_scheduled(self, window_id, **fields):
            with app.app_context():
                scheduling_service.update_scheduled_window(
                    window_id, validate_window(fields, utcnow(), partial=True), ADMIN
                )

        def cancel(self, window_id):
            with app.app_context():
                scheduling_service.cancel_window(window_id, ADMIN)

    return Windows()


def calendar(client, path="/status/maintenance.ics") -> Calendar:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return Calendar.from_ical(response.data)


def events(client) -> dict[str, object]:
    return {str(event["UID"]): event for event in calendar(client).walk("VEVENT")}


# -- the page -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", MOUNTS)
def test_the_page_shows_what_is_in_effect_planned_and_past_without_signing_in(client, windows, path):
    windows.activate()
    windows.end()
    windows.activate(message="Deploying v3", reason="deployment", mode="full")
    windows.schedule()

    response = client.get(path)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    now_part, _, rest = html.partition('id="status-upcoming"')
    planned_part, _, past_part = rest.partition('id="status-history"')
    assert "Maintenance in progress since" in now_part and "Deploying v3" in now_part
    assert "Deploying an update" in now_part and "The whole site." in now_part
    assert "Moving to a new data centre" in planned_part
    assert "Database work" in past_part and "Lasted 0 min" in past_part
    # Every time is written in UTC, named, and marked for app.js to show in the reader's zone.
    assert 'data-local>' in planned_part and " UTC</time>" in planned_part
    windows.end()


def test_the_page_speaks_portuguese_with_the_message_in_portuguese(client, windows):
    windows.activate()
    windows.schedule()

    html = client.get("/status", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)

    assert 'lang="pt-BR"' in html
    assert "Atualizando o banco de dados" in html and "Mudando de data center" in html
    assert "Upgrading the database" not in html
    # The switcher's cookie wins over the browser's language, as on the maintenance page.
    client.set_cookie("pausa_lang", "en")
    html = client.get("/status", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "Upgrading the database" in html
    windows.end()


def test_a_cancelled_window_shows_as_cancelled_in_the_past(client, windows):
    window_id = windows.schedule()
    windows.cancel(window_id)

    past = client.get("/status").get_data(as_text=True).partition('id="status-history"')[2]

    assert "Deploying an update" in past and "Cancelled" in past and "Lasted" not in past


def test_the_page_and_feeds_stay_reachable_during_full_maintenance(client, windows):
    windows.activate(mode="full")
    for path in ("/status", "/status/maintenance.ics", "/status/feed.atom", "/_pausa/status/"):
        assert client.get(path).status_code == 200, path
    windows.end()


def test_the_page_uses_a_few_queries(client, windows, sql_counter):
    windows.activate()
    windows.end()
    windows.schedule()
    client.get("/status")  # the first request warms the state cache and the templates
    sql_counter.statements.clear()

    response = client.get("/status", headers={"Accept-Language": "pt-BR"})

    assert response.status_code == 200 and "Mudando de data center" in response.get_data(as_text=True)
    statements = [statement.split()[0:4] for statement in sql_counter.statements]
    assert len(statements) <= 4, statements


def test_the_maintenance_page_and_the_banner_link_to_the_status_page(client, windows, auth):
    windows.activate(mode="full")
    page = client.get("/").get_data(as_text=True)
    assert 'href="/_pausa/status/"' in page
    windows.end()
    windows.schedule(starts_at="30m", ends_at="90m", notice_minutes=60)
    auth.login("user")
    assert 'href="/status"' in client.get("/account").get_data(as_text=True)


# -- no personal data ------------------------------------------------------------------------


def test_no_personal_data_in_the_page_the_calendar_or_the_feed(client, windows):
    window_id = windows.schedule()
    windows.update_scheduled(window_id, allowed_ips=["198.51.100.0/24"])
    windows.activate()
    windows.update(eta="45m")
    for path in ("/status", "/_pausa/status/", "/status/maintenance.ics", "/status/feed.atom"):
        response = client.get(path)
        body = response.get_data(as_text=True)
        assert response.status_code == 200 and "Upgrading the database" in body, path
        for secret in PRIVATE:
            assert secret not in body, f"{secret} in {path}"
    windows.end()


# -- caching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/status", "/_pausa/status/", "/status/maintenance.ics", "/status/feed.atom"])
def test_each_answer_is_public_for_15_seconds_and_revalidates_with_304(client, windows, path):
    first = client.get(path)
    assert first.headers["Cache-Control"] == "public, max-age=15"
    assert {"Accept-Language", "Cookie"} <= set(first.vary)
    etag = first.headers["ETag"]

    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert again.headers["ETag"] == etag

    assert client.get(path, headers={"If-None-Match": etag, "Accept-Language": "pt-BR"}).status_code == 200
    windows.schedule()
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


# -- iCalendar -------------------------------------------------------------------------------


def test_the_calendar_has_one_event_per_window_with_stable_uids_in_utc(client, windows):
    planned = windows.schedule()
    active = windows.activate()

    feed = calendar(client)
    assert str(feed["VERSION"]) == "2.0" and "Pausa" in str(feed["PRODID"])
    assert str(feed["X-WR-CALNAME"]) == "Planned maintenance"
    first = events(client)
    assert set(first) == {f"window-{planned}@localhost", f"window-{active}@localhost"}
    assert set(events(client)) == set(first)  # the same UIDs on every request
    event = first[f"window-{planned}@localhost"]
    assert event["DTSTART"].dt.utcoffset() == timedelta(0) and event["DTEND"].dt.utcoffset() == timedelta(0)
    assert f"DTSTART:{event['DTSTART'].dt:%Y%m%dT%H%M%S}Z" in client.get("/status/maintenance.ics").text
    assert event["DTEND"].dt - event["DTSTART"].dt == timedelta(hours=2)
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["SUMMARY"]) == "Maintenance: Deploying an update"
    assert str(event["DESCRIPTION"]) == "Moving to a new data centre"
    assert event["LAST-MODIFIED"].dt.utcoffset() == timedelta(0) and "DTSTAMP" in event
    # While it is on, the active window ends at its automatic end in calendars.
    now_on = first[f"window-{active}@localhost"]
    assert round((now_on["DTEND"].dt - now_on["DTSTART"].dt).total_seconds() / 60) == 60
    windows.end()


def test_sequence_rises_with_each_change_and_cancel_says_cancelled(client, windows):
    window_id = windows.schedule()
    uid = f"window-{window_id}@localhost"
    assert int(events(client)[uid]["SEQUENCE"]) == 0

    windows.update_scheduled(window_id, eta="1h")
    assert int(events(client)[uid]["SEQUENCE"]) == 1

    windows.cancel(window_id)
    cancelled = events(client)[uid]
    assert int(cancelled["SEQUENCE"]) == 2
    assert str(cancelled["STATUS"]) == "CANCELLED"


def test_uids_use_the_public_url_host(app, windows):
    app.config["PUBLIC_URL"] = "https://status.example.com/"
    window_id = windows.schedule()
    assert f"window-{window_id}@status.example.com" in events(app.test_client())


def test_the_calendar_speaks_the_reader_language(client, windows):
    windows.schedule()
    response = client.get("/status/maintenance.ics", headers={"Accept-Language": "pt-BR"})
    (event,) = Calendar.from_ical(response.data).walk("VEVENT")
    assert str(event["DESCRIPTION"]) == "Mudando de data center"


# -- Atom ------------------------------------------------------------------------------------


def atom(client, path="/status/feed.atom", **headers) -> ElementTree.Element:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    return ElementTree.fromstring(response.data)


def check_atom(feed: ElementTree.Element) -> None:
    """The structure RFC 4287 requires: feed id/title/updated/author, entry id/title/updated, RFC 3339 times."""
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
    assert feed.find(f"{ATOM}author/{ATOM}name") is not None
    times = [feed.findtext(f"{ATOM}updated")]
    ids = []
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert entry.find(f"{ATOM}link").get("href").startswith("http")
        assert entry.find(f"{ATOM}content").get("type") == "text"
        times.append(entry.findtext(f"{ATOM}updated"))
        ids.append(entry.findtext(f"{ATOM}id"))
    for moment in times:
        assert datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ")
    assert len(ids) == len(set(ids))


def test_the_feed_tells_of_announcements_starts_changes_ends_and_cancellations_newest_first(client, windows):
    planned = windows.schedule()
    windows.update_scheduled(planned, allowed_ips=["198.51.100.0/24"])  # private: no entry
    windows.cancel(planned)
    windows.activate()
    windows.update(eta="45m")
    windows.end()

    feed = atom(client)

    check_atom(feed)
    titles = [entry.findtext(f"{ATOM}title") for entry in feed.findall(f"{ATOM}entry")]
    assert titles == [
        "Maintenance ended: Database work",
        "Maintenance changed: Database work",
        "Maintenance started: Database work",
        "Maintenance cancelled: Deploying an update",
        "Maintenance planned: Deploying an update",
    ]
    first_ids = [entry.findtext(f"{ATOM}id") for entry in feed.findall(f"{ATOM}entry")]
    assert first_ids == [entry.findtext(f"{ATOM}id") for entry in atom(client).findall(f"{ATOM}entry")]
    assert "Upgrading the database" in feed.find(f"{ATOM}entry/{ATOM}content").text


def test_the_feed_in_portuguese_under_the_visitor_prefix(client, windows):
    windows.schedule()
    feed = atom(client, "/_pausa/status/feed.atom", **{"Accept-Language": "pt-BR"})
    check_atom(feed)
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "pt-BR"
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/_pausa/status/feed.atom"
    assert "Mudando de data center" in feed.find(f"{ATOM}entry/{ATOM}content").text


def test_the_poll_under_the_visitor_prefix_is_still_the_maintenance_page_poll(client):
    response = client.get("/_pausa/status", headers={"HX-Request": "true"})
    assert response.status_code == 200 and 'id="maintenance-status"' in response.get_data(as_text=True)


# -- what an unchanged ETag promises ---------------------------------------------------------


def move_clock(monkeypatch, moment: datetime) -> None:
    """Let the status page believe it is `moment` (the worker has not run meanwhile)."""
    monkeypatch.setattr("app.blueprints.status.utcnow", lambda: moment)


def backdate(app, window_id: int, **moments: datetime) -> None:
    """Set a window's times directly, as if it had happened long ago."""
    from sqlalchemy import update

    from app.extensions import db
    from app.models import MaintenanceWindow

    with app.app_context():
        db.session.execute(update(MaintenanceWindow).where(MaintenanceWindow.id == window_id).values(**moments))
        db.session.commit()


def test_without_public_url_each_address_gets_its_own_etag(client, windows):
    windows.schedule()
    first = client.get("/status/maintenance.ics", base_url="http://first.example")
    assert "@first.example" in first.text

    other = client.get("/status/maintenance.ics", base_url="http://second.example",
                       headers={"If-None-Match": first.headers["ETag"]})

    assert other.status_code == 200 and "@second.example" in other.text
    assert other.headers["ETag"] != first.headers["ETag"]


def test_the_past_90_days_roll_once_a_day_like_the_etag(app, client, windows, monkeypatch):
    window_id = windows.activate()
    windows.end()
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    ninety_days_ago = today - timedelta(days=90)
    backdate(app, window_id, starts_at=ninety_days_ago, started_at=ninety_days_ago,
             ended_at=ninety_days_ago + timedelta(hours=1))

    move_clock(monkeypatch, today + timedelta(minutes=30))
    early = client.get("/status")
    early_calendar = client.get("/status/maintenance.ics")
    move_clock(monkeypatch, today + timedelta(hours=2))
    late = client.get("/status", headers={"If-None-Match": early.headers["ETag"]})
    late_calendar = client.get("/status/maintenance.ics")

    assert "Database work" in early.text.partition('id="status-history"')[2]
    # The same day, the same ETag: so the same answer (a cache may serve the early one all day).
    assert late.status_code == 304
    assert late_calendar.headers["ETag"] == early_calendar.headers["ETag"]
    assert late_calendar.data == early_calendar.data
    assert f"window-{window_id}@localhost" in late_calendar.text


def test_a_worker_alert_changes_no_calendar_byte_under_the_same_etag(app, client, windows):
    window_id = windows.activate(eta="30m", ends_at="2h")
    # As if the window was last changed an hour ago (updated_at moves with every write).
    with app.app_context():
        from app.extensions import db
        from app.models import MaintenanceWindow

        updated_at = db.session.get(MaintenanceWindow, window_id).updated_at
    backdate(app, window_id, updated_at=updated_at - timedelta(hours=1))
    before = client.get("/status/maintenance.ics")

    with app.app_context():
        assert [window.id for window in clock_service.alert_overdue_windows(utcnow() + timedelta(hours=1))] \
            == [window_id]
    after = client.get("/status/maintenance.ics")

    assert after.headers["ETag"] == before.headers["ETag"]
    assert after.data == before.data
    windows.end()


def test_windows_the_worker_has_not_closed_yet_stay_in_the_past_and_the_calendar(client, windows, monkeypatch):
    active = windows.activate(ends_at="1h")
    planned = windows.schedule(starts_at="1h", ends_at="1h")
    first = events(client)
    active_end, planned_end = first[f"window-{active}@localhost"]["DTEND"].dt, first[f"window-{planned}@localhost"]["DTEND"].dt

    move_clock(monkeypatch, utcnow() + timedelta(hours=3))
    html = client.get("/status").text
    later = events(client)

    now_part, _, rest = html.partition('id="status-upcoming"')
    past = rest.partition('id="status-history"')[2]
    assert "Database work" not in now_part and "Deploying an update" not in now_part
    assert "Database work" in past and "Deploying an update" in past
    assert later[f"window-{active}@localhost"]["DTEND"].dt == active_end
    assert later[f"window-{planned}@localhost"]["DTEND"].dt == planned_end
    windows.end()
