"""The admin dashboard's htmx forms: activate, update, end, errors in place."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app.extensions import db
from app.i18n import datetime_attribute, utc_datetime, utc_time
from app.maintenance.validation import validate_window
from app.models import AuditEntry, Delivery, MaintenanceWindow, Subscriber, WorkerHeartbeat
from app.services import scheduling as scheduling_service

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return auth.csrf()


def form(token, **fields):
    data = {"csrf_token": token, "roles_present": "1", "reason": "other", "mode": "full"}
    data.update(fields)
    return data


def test_dashboard_idle(client, admin):
    html = client.get("/admin").get_data(as_text=True)
    assert "Maintenance is off." in html
    assert "Activate maintenance now" in html
    assert 'data-hx-trigger="every 5s"' in html


def test_activate_with_htmx_returns_the_panel(app, client, admin):
    response = client.post(
        "/admin/maintenance/activate",
        data=form(admin, message="Deploying v2", reason="deployment", eta="30m", allowed_roles="qa"),
        headers=HX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="admin-panel"')
    assert "Maintenance is ON" in html
    assert "Update the active window" in html
    assert "HX-Request" in response.headers["Vary"]
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        assert window.message == "Deploying v2"
        assert window.allowed_roles == ["qa"]
        assert window.started_by == "admin@example.com"
        entry = db.session.query(AuditEntry).filter_by(action="maintenance.activated").one()
        assert entry.ip == "127.0.0.1"
        assert entry.user_agent


def test_activate_without_htmx_redirects(client, admin):
    response = client.post("/admin/maintenance/activate", data=form(admin))
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin"
    assert "Maintenance is on." in client.get("/admin").get_data(as_text=True)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"eta": "2000-01-01T00:00Z"}, "eta", "Must be in the future."),
        ({"eta": "soonish"}, "eta", "Use a time like"),
        ({"message": "m" * 501}, "message", "At most 500 characters"),
        ({"reason": "lunch"}, "reason", "Must be one of"),
        ({"allowed_ips": "10.0.0.0/33"}, "allowed_ips", "not an IP address"),
        ({"mode": "scoped"}, "scope_paths", "needs at least one path"),
    ],
)
def test_bad_input_is_422_with_field_error(app, client, admin, fields, field, text):
    response = client.post("/admin/maintenance/activate", data=form(admin, **fields), headers=HX)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="{field}-error"' in html
    assert text in html
    assert 'aria-invalid="true"' in html
    with app.app_context():
        assert db.session.query(MaintenanceWindow).count() == 0


def test_bad_input_keeps_what_was_typed(client, admin):
    response = client.post(
        "/admin/maintenance/activate",
        data=form(admin, message="Keep me <please>", eta="yesterday"),
        headers=HX,
    )
    assert "Keep me &lt;please&gt;" in response.get_data(as_text=True)


def test_missing_csrf_is_refused(app, client, admin):
    response = client.post("/admin/maintenance/activate", data={"message": "x"}, headers=HX)
    assert response.status_code == 400
    with app.app_context():
        assert db.session.query(MaintenanceWindow).count() == 0


def test_second_activation_shows_conflict(client, admin, activate):
    activate(message="from the CLI")
    response = client.post("/admin/maintenance/activate", data=form(admin), headers=HX)
    assert response.status_code == 409
    assert "already active" in response.get_data(as_text=True)


def test_update_changes_only_what_changed(app, client, admin, activate):
    activate(message="First", eta="1h", allowed_roles=["qa"])
    panel = client.get("/admin").get_data(as_text=True)
    assert "First" in panel
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        eta_shown = window.eta.strftime("%Y-%m-%dT%H:%MZ")
    response = client.post(
        "/admin/maintenance/update",
        data=form(admin, message="Second", eta=eta_shown, allowed_roles="qa"),
        headers=HX,
    )
    assert response.status_code == 200
    with app.app_context():
        entry = db.session.query(AuditEntry).filter_by(action="maintenance.updated").one()
        assert entry.details == {"before": {"message": "First"}, "after": {"message": "Second"}}


def test_update_of_overdue_window_keeps_working(app, client, admin, activate):
    activate(message="Late", eta="1h")
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        window.eta = utcnow() - timedelta(minutes=3)
        db.session.commit()
        shown = window.eta.strftime("%Y-%m-%dT%H:%MZ")
    response = client.post(
        "/admin/maintenance/update", data=form(admin, message="Still late", eta=shown), headers=HX
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_end(app, client, admin, activate):
    activate()
    response = client.post("/admin/maintenance/end", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 200
    assert "Maintenance has ended." in response.get_data(as_text=True)
    assert client.get("/").status_code == 200
    with app.app_context():
        window = db.session.query(MaintenanceWindow).one()
        assert (window.status, window.ended_how, window.ended_by) == ("completed", "manual", "admin@example.com")


def test_end_when_nothing_active(client, admin):
    response = client.post("/admin/maintenance/end", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 404


def test_status_card_signals_state_change(client, admin, activate):
    card = client.get("/admin/status-card?version=1", headers=HX)
    assert "HX-Trigger" not in card.headers
    activate()
    card = client.get("/admin/status-card?version=1", headers=HX)
    assert card.headers["HX-Trigger"] == "pausa:state-changed"
    assert "Maintenance is ON" in card.get_data(as_text=True)


def test_live_preview_follows_the_form(client, admin):
    form_page = client.get("/admin").get_data(as_text=True)
    assert 'id="maintenance-preview"' in form_page
    response = client.post(
        "/admin/preview",
        data={"csrf_token": admin, "message": "Upgrading <db>\nline two", "reason": "database", "eta": "45m"},
        headers=HX,
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Upgrading &lt;db&gt;\nline two" in html
    assert "Database work" in html
    assert 'data-seconds="2700"' in html or 'data-seconds="2699"' in html
    half_typed = client.post(
        "/admin/preview", data={"csrf_token": admin, "message": "", "reason": "nonsense", "eta": "soo"}, headers=HX
    )
    assert half_typed.status_code == 200
    assert "We are performing scheduled maintenance" in half_typed.get_data(as_text=True)


def test_preview_needs_an_admin_and_csrf(client, auth):
    assert client.post("/admin/preview", data={"message": "x"}).status_code in (302, 400)
    auth.login("admin")
    assert client.post("/admin/preview", data={"message": "x"}).status_code == 400


# -- the dashboard at a glance (issue 13) ------------------------------------------------------

ISO = "%Y-%m-%dT%H:%M:%SZ"
PT = {"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}


def text_of(html: str) -> str:
    """The words a reader sees: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def schedule(app, starts_at, ends_at, **fields):
    """Plan a window through the service (as the API would) and return its id."""
    with app.app_context():
        data = {"starts_at": starts_at.strftime(ISO), "ends_at": ends_at.strftime(ISO), "reason": "deployment",
                "message": "Planned upgrade", **fields}
        window = scheduling_service.schedule_window(validate_window(data, utcnow()), Actor("admin@example.com"))
        return window.id


def test_admin_with_a_trailing_slash_lands_on_the_dashboard(client, admin):
    response = client.get("/admin/")
    assert response.status_code in (301, 308)
    assert response.headers["Location"] == "/admin"
    followed = client.get("/admin/", follow_redirects=True)
    assert followed.status_code == 200
    assert "Maintenance dashboard" in followed.get_data(as_text=True)


def test_admin_with_a_trailing_slash_still_needs_a_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_status_card_tells_when_the_next_planned_window_starts(app, client, admin):
    starts_at = utcnow().replace(microsecond=0) + timedelta(minutes=19, seconds=30)
    schedule(app, starts_at, starts_at + timedelta(hours=1), drain_minutes="5")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        at = text_of(utc_time(starts_at))
        drain_at = text_of(utc_time(starts_at - timedelta(minutes=5)))
    for html in (client.get("/admin").get_data(as_text=True),
                 client.get("/admin/status-card", headers=HX).get_data(as_text=True)):
        card = text_of(html[html.index('id="status-card"'):])
        assert re.search(rf"Maintenance starts in 19 min \d\d s \(at {re.escape(at)}\): full, deployment\.", card), card
        assert f"Writes are refused from {drain_at}." in card
        assert "Maintenance is off." in card  # still true: nothing blocks yet


def test_status_card_says_when_a_far_planned_window_starts(app, client, admin):
    starts_at = utcnow().replace(microsecond=0) + timedelta(days=3)
    schedule(app, starts_at, starts_at + timedelta(hours=1))
    with app.test_request_context(headers={"Accept-Language": "en"}):
        on = text_of(utc_datetime(starts_at))
    card = text_of(client.get("/admin/status-card", headers=HX).get_data(as_text=True))
    assert f"Next planned maintenance starts on {on}: full, deployment." in card


def test_status_card_reloads_the_panel_when_a_planned_window_starts_by_the_clock(app, client, admin):
    """The gate starts a planned window at its start before the worker records it (no new version)."""
    starts_at = utcnow().replace(microsecond=0) + timedelta(minutes=30)
    window_id = schedule(app, starts_at, starts_at + timedelta(hours=1))
    card = client.get("/admin/status-card", headers=HX)
    seen = re.search(r'status-card\?version=(\d+)', card.get_data(as_text=True)).group(1)
    assert "HX-Trigger" not in client.get(f"/admin/status-card?version={seen}&window=0", headers=HX).headers
    with app.app_context():
        window = db.session.get(MaintenanceWindow, window_id)
        window.starts_at = utcnow() - timedelta(seconds=5)  # the start passed; no worker ran
        db.session.commit()
    card = client.get(f"/admin/status-card?version={seen}&window=0", headers=HX)
    assert "Maintenance is ON" in card.get_data(as_text=True)
    assert card.headers["HX-Trigger"] == "pausa:state-changed"


def queue_emails(app, count: int) -> None:
    """An ended window whose "we're back" emails wait in the queue, as after a window with subscribers."""
    with app.app_context():
        ended = utcnow() - timedelta(minutes=5)
        window = MaintenanceWindow(
            status="completed", reason="deployment", message="Upgrading", created_by="admin@example.com",
            starts_at=ended - timedelta(hours=1), started_at=ended - timedelta(hours=1),
            ended_at=ended, ended_by="admin@example.com", ended_how="manual",
        )
        db.session.add(window)
        db.session.flush()
        for n in range(count):
            email = f"user{n}@example.com"
            subscriber = Subscriber(window_id=window.id, email=email,
                                    email_hash=hashlib.sha256(email.encode()).hexdigest(), language="en")
            db.session.add(subscriber)
            db.session.flush()
            db.session.add(Delivery(window_id=window.id, subscriber_id=subscriber.id, kind="back_online",
                                    status="queued", not_before=utcnow(), attempts=0))
        db.session.commit()


def heartbeat(app, seconds_ago: float) -> None:
    with app.app_context():
        db.session.add(WorkerHeartbeat(name="worker-host:4242", beat_at=utcnow() - timedelta(seconds=seconds_ago)))
        db.session.commit()


WAITING = ("3 emails are waiting for a worker. None is running: start one with flask worker "
           "(make run starts it for you).")


def test_dashboard_says_when_emails_wait_for_a_worker_that_is_not_running(app, client, admin):
    queue_emails(app, 3)
    page = text_of(client.get("/admin").get_data(as_text=True))
    assert WAITING in page
    # Near the top: in the status card, before the form and every other panel.
    assert page.index(WAITING) < page.index("Activate maintenance now") < page.index("Health")


def test_a_silent_worker_is_not_running_either(app, client, admin):
    queue_emails(app, 3)
    heartbeat(app, seconds_ago=app.config["WORKER_STALE_SECONDS"] + 60)
    assert WAITING in text_of(client.get("/admin/status-card", headers=HX).get_data(as_text=True))


def test_no_worker_warning_while_a_worker_runs_or_nothing_waits(app, client, admin):
    assert "waiting for a worker" not in client.get("/admin").get_data(as_text=True)  # nothing queued
    queue_emails(app, 3)
    heartbeat(app, seconds_ago=1)
    assert "waiting for a worker" not in client.get("/admin").get_data(as_text=True)


# The six queues of the health panel whose names were shown raw, in English, in every language.
QUEUE_LABELS_EN = (
    "emails waiting to be sent", "emails of uncertain delivery", "mail circuit open",
    "webhook events waiting", "webhook dead letters", "outbound webhooks waiting",
)


def test_queue_labels_are_words_in_english(client, admin):
    health = client.get("/admin/health-panel", headers=HX).get_data(as_text=True)
    for words in QUEUE_LABELS_EN:
        assert f"{words}: " in health
    for raw in ("deliveries queued", "webhook inbox pending", "outbound webhooks queued"):
        assert raw not in health
    assert "mail circuit open: no" in health


def test_queue_labels_are_translated_in_portuguese(client, auth):
    """Needs the pt_BR catalog to have these six msgids translated (the lead fills them in)."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = PT["Accept-Language"]
    auth.login("admin")
    html = client.get("/admin").get_data(as_text=True)
    assert '<html lang="pt-BR"' in html and "Painel de manutenção" in html
    health = html[html.index('id="health-panel"'):]
    health = health[:health.index("</section>")]
    english = [words for words in QUEUE_LABELS_EN if words in health]
    assert not english, f"still in English on the pt-BR dashboard: {english}"
    assert "deliveries queued" not in health and "webhook inbox pending" not in health


def test_cancelled_window_shows_its_plan_and_when_it_was_cancelled(app, client, admin):
    starts_at = utcnow().replace(microsecond=0) + timedelta(days=3)
    ends_at = starts_at + timedelta(hours=2)
    window_id = schedule(app, starts_at, ends_at)
    response = client.post(f"/admin/windows/{window_id}/cancel", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 200
    with app.app_context():
        cancelled_at = db.session.get(MaintenanceWindow, window_id).ended_at
    with app.test_request_context(headers={"Accept-Language": "en"}):
        cancelled_on = text_of(utc_datetime(cancelled_at))
    html = client.get("/admin").get_data(as_text=True)
    past = html[html.index("Past windows"):]
    row = re.search(rf"<tr[^>]*>\s*<td>{window_id}</td>(.*?)</tr>", past, re.S).group(1)
    assert f"Cancelled on {cancelled_on}" in text_of(row)
    # The planned span, start then end; the cancel time appears only as "Cancelled on".
    assert row.index(f'datetime="{datetime_attribute(starts_at)}"') < row.index(f'datetime="{datetime_attribute(ends_at)}"')
    assert row.count(f'datetime="{datetime_attribute(cancelled_at)}"') == 1
    assert row.index("Cancelled on") < row.index(f'datetime="{datetime_attribute(starts_at)}"')
