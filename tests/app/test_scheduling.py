"""Planned windows end to end: services, the worker's transitions, hooks, API, CLI and dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import func, select

from app import hooks
from app.extensions import db
from app.maintenance.validation import ValidationError, validate_window
from app.models import AuditEntry, MaintenanceState, MaintenanceWindow
from app.services import Conflict, NotFound
from app.services import clock as clock_service
from app.services import maintenance as maintenance_service
from app.services import scheduling as scheduling_service
from app.services import state as state_service
from app.services import tokens as token_service

ADMIN = Actor("admin@example.com")
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}
URL = "/api/admin/maintenance/windows"


@pytest.fixture
def calls():
    """Record every hook call (event, window id, details) while the test runs."""
    seen: list[tuple[str, int, dict]] = []
    registered = []
    for event in hooks.EVENTS:
        def hook(window, _event=event, **details):
            seen.append((_event, window.id, details))
        hooks.on(event, hook)
        registered.append((event, hook))
    yield seen
    for event, hook in registered:
        hooks.off(event, hook)


def schedule(app, now=None, **fields):
    """Schedule through the service; `now` pretends the clock says something else."""
    now = now or utcnow()
    with app.app_context():
        window = scheduling_service.schedule_window(validate_window(fields, now), ADMIN, now)
        return window.id


def get(app, window_id):
    with app.app_context():
        window = db.session.get(MaintenanceWindow, window_id)
        db.session.expunge(window)
        return window


def actions(app, window_id=None):
    with app.app_context():
        query = select(AuditEntry).order_by(AuditEntry.id)
        if window_id is not None:
            query = query.where(AuditEntry.target == f"window:{window_id}")
        return [(entry.action, entry.actor) for entry in db.session.scalars(query)]


def version(app):
    with app.app_context():
        return db.session.get(MaintenanceState, 1).version


# -- services ----------------------------------------------------------------------------------


def test_schedule_stores_utc_audits_bumps_and_emits(app, calls):
    before = version(app)
    window_id = schedule(
        app, starts_at="2h", eta="3h", ends_at="4h", notice_minutes="30", drain_minutes="5",
        message="Nightly deploy", reason="deployment",
    )
    window = get(app, window_id)
    assert window.status == "scheduled"
    assert window.starts_at.tzinfo is not None and window.started_at is None
    assert (window.notice_minutes, window.drain_minutes) == (30, 5)
    assert window.created_by == ADMIN.name
    assert actions(app, window_id) == [("maintenance.scheduled", ADMIN.name)]
    assert version(app) == before + 1
    assert calls == [("window.scheduled", window_id, {"actor": ADMIN.name})]
    with app.app_context():
        assert state_service.current_window() is None  # not in effect yet


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({}, "starts_at"),
        ({"starts_at": "2000-01-01T00:00Z"}, "starts_at"),
        ({"starts_at": "2h", "eta": "0s"}, "eta"),  # lengths count from the start
        ({"starts_at": "2h", "ends_at": "0m"}, "ends_at"),
        ({"starts_at": "2h", "mode": "scoped"}, "scope_paths"),
    ],
)
def test_schedule_validation(app, fields, field):
    with pytest.raises(ValidationError) as error:
        schedule(app, **fields)
    assert field in error.value.fields
    assert "maintenance.scheduled" not in [action for action, _ in actions(app)]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(MaintenanceWindow)) == 0


def test_overlapping_windows_are_refused_adjacent_ones_are_not(app):
    now = utcnow()
    at = lambda hours: (now + timedelta(hours=hours)).isoformat()  # noqa: E731
    first = schedule(app, now, starts_at=at(1), ends_at=at(3))
    with pytest.raises(Conflict, match=f"window {first}"):
        schedule(app, now, starts_at=at(2), ends_at=at(4))
    with pytest.raises(Conflict):
        schedule(app, now, starts_at=at(0.5))  # open-ended: lasts forever
    before = schedule(app, now, starts_at=at(0.5), ends_at=at(1))  # [0.5, 1) then [1, 3)
    after = schedule(app, now, starts_at=at(3))  # [3, ∞) after [1, 3)
    with pytest.raises(Conflict, match=f"window {after}"):
        schedule(app, now, starts_at=at(100), ends_at=at(101))
    assert len({first, before, after}) == 3


def test_an_open_ended_active_window_blocks_scheduling(app, activate):
    activate(message="Now")
    with pytest.raises(Conflict, match="no automatic end"):
        schedule(app, starts_at="1d", ends_at="25h")


def test_update_scheduled_window(app, calls):
    now = utcnow()
    first = schedule(app, now, starts_at="1h", ends_at="2h", message="First")
    second = schedule(app, now, starts_at="3h", ends_at="4h", message="Second")
    with app.app_context():
        window = scheduling_service.update_scheduled_window(
            second, validate_window({"starts_at": "5h", "ends_at": "6h", "message": "Moved"}, now, partial=True),
            ADMIN, now,
        )
        assert window.starts_at == now + timedelta(hours=5)
        entry = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "maintenance.updated")
        ).one()
        assert set(entry.details["after"]) == {"starts_at", "ends_at", "message"}
        assert entry.details["before"]["message"] == "Second"
        with pytest.raises(Conflict, match=f"window {first}"):
            scheduling_service.update_scheduled_window(
                second, validate_window({"starts_at": "90m"}, now, partial=True), ADMIN, now
            )
        with pytest.raises(ValidationError) as error:  # the ETA must follow the (kept) start
            scheduling_service.update_scheduled_window(
                second, validate_window({"eta": (now + timedelta(hours=2)).isoformat()}, now, partial=True),
                ADMIN, now,
            )
        assert "eta" in error.value.fields
        with pytest.raises(NotFound):
            scheduling_service.update_scheduled_window(
                999, validate_window({"message": "x"}, now, partial=True), ADMIN, now
            )
    assert get(app, second).message == "Moved"
    assert [event for event, *_ in calls] == ["window.scheduled", "window.scheduled", "window.updated"]


def test_cancel_window(app, calls):
    window_id = schedule(app, starts_at="1h", notice_minutes="120")
    with app.app_context():
        scheduling_service.cancel_window(window_id, ADMIN)
        with pytest.raises(Conflict, match="cancelled"):
            scheduling_service.cancel_window(window_id, ADMIN)
        with pytest.raises(NotFound):
            scheduling_service.cancel_window(999, ADMIN)
    window = get(app, window_id)
    assert (window.status, window.ended_by) == ("cancelled", ADMIN.name)
    assert actions(app, window_id) == [
        ("maintenance.scheduled", ADMIN.name), ("maintenance.cancelled", ADMIN.name)
    ]
    assert calls[-1][0] == "window.cancelled"
    # A cancelled window can be replaced by another at the same time.
    schedule(app, starts_at="1h")


def test_a_scheduled_window_is_enforced_by_the_clock_before_the_worker_runs(app, client):
    now = utcnow()
    window_id = schedule(
        app, now - timedelta(hours=2), starts_at=(now - timedelta(hours=1)).isoformat(),
        ends_at=(now + timedelta(hours=1)).isoformat(), message="Planned",
    )
    assert get(app, window_id).status == "scheduled"
    response = client.get("/account")
    assert response.status_code == 503
    assert response.headers["X-Maintenance"] == "active"
    with app.app_context(), pytest.raises(Conflict, match="already started"):
        scheduling_service.cancel_window(window_id, ADMIN)  # under way: end it instead


def test_extend_window(app, activate, calls):
    activate(message="Deploy", eta="20m", ends_at="30m")
    with app.app_context():
        before = state_service.current_window().ends_at
        window = maintenance_service.extend_window(30, ADMIN)
        assert window.ends_at == before + timedelta(minutes=30)
        entry = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry.action == "maintenance.updated"
        assert entry.details["extended_minutes"] == 30
        with pytest.raises(ValidationError):
            maintenance_service.extend_window(0, ADMIN)
    assert calls[-1][0] == "window.updated"


def test_extend_needs_an_active_window_with_an_end(app, activate):
    with app.app_context(), pytest.raises(NotFound):
        maintenance_service.extend_window(30, ADMIN)
    activate(message="Open-ended")
    with app.app_context(), pytest.raises(Conflict, match="no automatic end"):
        maintenance_service.extend_window(30, ADMIN)


# -- the worker's transitions ------------------------------------------------------------


def test_start_due_windows_once_as_system(app, calls):
    now = utcnow()
    window_id = schedule(app, now, starts_at="10m", ends_at="60m")  # ends 70 min from now
    later = now + timedelta(minutes=11)
    with app.app_context():
        assert clock_service.start_due_windows(now) == []
        started = clock_service.start_due_windows(later)
        assert [window.id for window in started] == [window_id]
        assert clock_service.start_due_windows(later) == []
    window = get(app, window_id)
    assert (window.status, window.started_by) == ("active", "system")
    assert window.started_at == window.starts_at
    assert actions(app, window_id)[-1] == ("maintenance.started", "system")
    assert [c for c in calls if c[0] == "window.started"] == [("window.started", window_id, {"actor": "system"})]
    with app.app_context():  # and the automatic end, later, is the existing task's
        ended = clock_service.finish_expired_windows(now + timedelta(minutes=71))
        assert [window.id for window in ended] == [window_id]
    assert [c[0] for c in calls][-1] == "window.ended"


def test_a_missed_window_is_recorded_as_started_and_ended(app, calls):
    now = utcnow()
    window_id = schedule(app, now, starts_at="10m", ends_at="20m")
    with app.app_context():
        clock_service.start_due_windows(now + timedelta(hours=1))
    window = get(app, window_id)
    assert (window.status, window.ended_how, window.ended_at) == ("completed", "auto", window.ends_at)
    assert [a for a, _ in actions(app, window_id)] == [
        "maintenance.scheduled", "maintenance.started", "maintenance.ended"
    ]
    assert [c[0] for c in calls][-2:] == ["window.started", "window.ended"]


def test_adjacent_windows_hand_over(app):
    now = utcnow()
    first = schedule(app, now, starts_at="10m", ends_at="10m")  # 10 min long: lengths count from the start
    second = schedule(app, now, starts_at="20m", ends_at="10m")
    with app.app_context():
        clock_service.start_due_windows(now + timedelta(minutes=15))
        at_handover = now + timedelta(minutes=20, seconds=1)
        # The worker's order: the automatic end first, then the starts.
        clock_service.finish_expired_windows(at_handover)
        clock_service.start_due_windows(at_handover)
    assert get(app, first).status == "completed"
    assert get(app, second).status == "active"


def test_a_due_window_waits_while_another_is_active(app, activate):
    now = utcnow()
    window_id = schedule(app, now, starts_at="10m", ends_at="70m")
    activate(message="Emergency")  # open-ended, started by hand after the planning
    later = now + timedelta(minutes=11)
    with app.app_context():
        assert clock_service.start_due_windows(later) == []
        assert get(app, window_id).status == "scheduled"
        maintenance_service.end_window(ADMIN)
        assert [w.id for w in clock_service.start_due_windows(later)] == [window_id]


def test_overdue_alert_once_and_again_after_a_new_eta(app, activate, calls, caplog):
    activate(message="Deploy", eta="20m", ends_at="2h")
    now = utcnow()
    with app.app_context():
        assert clock_service.alert_overdue_windows(now) == []
        late = now + timedelta(minutes=21)
        assert len(clock_service.alert_overdue_windows(late)) == 1
        assert clock_service.alert_overdue_windows(late + timedelta(minutes=5)) == []
    assert [c[0] for c in calls].count("window.overdue") == 1
    assert [a for a, _ in actions(app)].count("maintenance.overdue") == 1
    assert ("maintenance.overdue", "system") in actions(app)
    assert "overdue" in caplog.text  # the default alert hook logs a warning
    with app.app_context():
        maintenance_service.update_window(validate_window({"eta": "40m"}, utcnow(), partial=True), ADMIN)
        assert get(app, state_service.current_window().id).overdue_alerted_at is None
        assert len(clock_service.alert_overdue_windows(now + timedelta(minutes=41))) == 1
    assert [c[0] for c in calls].count("window.overdue") == 2


def test_ceiling_alert_once(app, activate, calls):
    activate(message="Long one")
    now = utcnow()
    with app.app_context():
        assert clock_service.alert_ceiling_windows(8, now + timedelta(hours=7)) == []
        assert len(clock_service.alert_ceiling_windows(8, now + timedelta(hours=8, seconds=1))) == 1
        assert clock_service.alert_ceiling_windows(8, now + timedelta(hours=9)) == []
    assert [c[0] for c in calls].count("window.ceiling_exceeded") == 1
    assert [a for a, _ in actions(app)].count("maintenance.ceiling_exceeded") == 1


def test_a_failing_hook_never_breaks_a_transition(app, caplog):
    def broken(window, **details):
        raise RuntimeError("mail server on fire")

    hooks.on("window.started", broken)
    try:
        now = utcnow()
        window_id = schedule(app, now, starts_at="1m")
        with app.app_context():
            assert len(clock_service.start_due_windows(now + timedelta(minutes=2))) == 1
    finally:
        hooks.off("window.started", broken)
    assert get(app, window_id).status == "active"
    assert "mail server on fire" in caplog.text


def test_hooks_registry_rejects_unknown_events():
    with pytest.raises(ValueError):
        hooks.on("window.exploded", print)
    assert hooks.log_alert in hooks.handlers("window.overdue")


def test_worker_pass_runs_the_transitions(app):
    from app.worker import Worker

    now = utcnow()
    window_id = schedule(
        app, now - timedelta(hours=2), starts_at=(now - timedelta(minutes=30)).isoformat(),
        eta=(now - timedelta(minutes=1)).isoformat(), ends_at=(now + timedelta(hours=1)).isoformat(),
    )
    worker = Worker(app, handle_signals=False, echo=lambda text: None)
    assert {"start-due-windows", "alert-long-windows"} <= set(worker.tasks.names())
    assert worker.run(once=True) == 0
    window = get(app, window_id)
    assert window.status == "active" and window.overdue_alerted_at is not None
    assert [a for a, _ in actions(app, window_id)] == [
        "maintenance.scheduled", "maintenance.started", "maintenance.overdue"
    ]
    assert worker.run(once=True) == 0  # nothing twice
    assert len(actions(app, window_id)) == 3


# -- JSON API --------------------------------------------------------------------------------


@pytest.fixture
def bearer(app):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    return {"Authorization": f"Bearer {raw}"}


def test_api_schedule_edit_cancel(app, client, bearer):
    response = client.post(URL, json={"starts_at": "2h", "ends_at": "3h", "notice_minutes": 30}, headers=bearer)
    assert response.status_code == 201, response.json
    window = response.json["window"]
    assert window["status"] == "scheduled" and window["notice_minutes"] == 30
    assert response.json["active"] is False
    window_id = window["id"]

    clash = client.post(URL, json={"starts_at": "150m"}, headers=bearer)
    assert clash.status_code == 409 and clash.json["error"] == "conflict"

    patched = client.patch(f"{URL}/{window_id}", json={"message": "Moved", "starts_at": "4h",
                                                      "ends_at": "5h"}, headers=bearer)
    assert patched.status_code == 200, patched.json
    assert patched.json["window"]["message"] == "Moved"

    listed = client.get(URL, headers=bearer).json["windows"]
    assert listed[0]["id"] == window_id

    cancelled = client.delete(f"{URL}/{window_id}", headers=bearer)
    assert cancelled.status_code == 200 and cancelled.json["window"]["status"] == "cancelled"
    assert client.delete(f"{URL}/{window_id}", headers=bearer).status_code == 409
    with app.app_context():
        assert db.session.scalar(
            select(func.count()).select_from(AuditEntry)
            .where(AuditEntry.actor == "token:deploy", AuditEntry.action != "token.used")
        ) == 3


def test_api_errors(app, client, bearer, activate):
    missing = client.post(URL, json={"message": "no start"}, headers=bearer)
    assert missing.status_code == 400 and "starts_at" in missing.json["fields"]
    past = client.post(URL, json={"starts_at": "2000-01-01T00:00Z"}, headers=bearer)
    assert past.status_code == 400 and "starts_at" in past.json["fields"]
    assert client.delete(f"{URL}/999", headers=bearer).status_code == 404
    assert client.patch(f"{URL}/999", json={"message": "x"}, headers=bearer).status_code == 404
    window_id = activate(message="Now")
    busy = client.delete(f"{URL}/{window_id}", headers=bearer)
    assert busy.status_code == 409 and "active" in busy.json["message"]


def test_api_schedule_needs_admin_and_csrf(client, auth):
    assert client.post(URL, json={"starts_at": "2h"}).status_code == 401
    auth.login("developer")
    assert client.post(URL, json={"starts_at": "2h"}).status_code == 403


# -- CLI -------------------------------------------------------------------------------------


def test_cli_schedule_and_cancel(app, runner):
    result = runner.invoke(args=[
        "maintenance", "schedule", "--start", "2h", "--notice-minutes", "45", "--drain-minutes", "5",
        "--message", "Nightly", "--ends-at", "3h", "--reason", "deployment",
    ])
    assert result.exit_code == 0, result.output
    assert "Scheduled window" in result.output
    with app.app_context():
        window = db.session.scalars(select(MaintenanceWindow)).one()
        assert (window.status, window.notice_minutes, window.drain_minutes) == ("scheduled", 45, 5)
        assert window.created_by == "cli:tester"
        window_id = window.id

    clash = runner.invoke(args=["maintenance", "schedule", "--start", "150m"])
    assert clash.exit_code == 1 and "overlaps" in clash.output

    bad = runner.invoke(args=["maintenance", "schedule", "--start", "yesterday"])
    assert bad.exit_code == 2 and "--start" in bad.output
    past = runner.invoke(args=["maintenance", "schedule", "--start", "2000-01-01T00:00Z"])
    assert past.exit_code == 2 and "--start" in past.output
    assert runner.invoke(args=["maintenance", "schedule"]).exit_code == 2  # --start is required

    cancelled = runner.invoke(args=["maintenance", "cancel", str(window_id)])
    assert cancelled.exit_code == 0 and f"Cancelled window {window_id}" in cancelled.output
    again = runner.invoke(args=["maintenance", "cancel", str(window_id)])
    assert again.exit_code == 1
    assert runner.invoke(args=["maintenance", "cancel", "999"]).exit_code == 1
    assert [a for a, _ in actions(app, window_id)] == ["maintenance.scheduled", "maintenance.cancelled"]


# -- dashboard -------------------------------------------------------------------------------


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return auth.csrf()


def form(token, **fields):
    data = {"csrf_token": token, "roles_present": "1", "reason": "other", "mode": "full", "message": ""}
    data.update(fields)
    return data


def test_dashboard_schedule_form_and_list(app, client, admin):
    page = client.get("/admin").get_data(as_text=True)
    assert "Planned windows" in page and "No window is planned." in page
    assert 'href="/admin/windows/new"' in page

    new = client.get("/admin/windows/new").get_data(as_text=True)
    assert 'id="starts_at"' in new and 'id="notice_minutes"' in new and 'id="drain_minutes"' in new
    assert new.count('id="message"') == 1

    bad = client.post("/admin/windows", data=form(admin, starts_at="2000-01-01T00:00Z"), headers=HX)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="schedule-form"')
    assert 'id="starts_at-error"' in html and 'value="2000-01-01T00:00Z"' in html

    ok = client.post(
        "/admin/windows",
        data=form(admin, starts_at="2h", ends_at="3h", notice_minutes="30", drain_minutes="5", message="Night"),
        headers=HX,
    )
    assert ok.status_code == 200 and ok.headers["HX-Redirect"] == "/admin"
    page = client.get("/admin").get_data(as_text=True)
    assert "Maintenance window scheduled." in page
    with app.app_context():
        window = db.session.scalars(select(MaintenanceWindow)).one()
        assert (window.notice_minutes, window.drain_minutes, window.message) == (30, 5, "Night")
    assert f"Edit window {window.id}" in page and f"Cancel window {window.id}" in page

    clash = client.post("/admin/windows", data=form(admin, starts_at="150m"), headers=HX)
    assert clash.status_code == 409
    assert "overlaps" in clash.get_data(as_text=True)


def test_dashboard_edit_and_cancel(app, client, admin):
    window_id = schedule(app, starts_at="2h", ends_at="3h", message="Before")
    edit = client.get(f"/admin/windows/{window_id}/edit").get_data(as_text=True)
    assert "Before" in edit
    assert f'action="/admin/windows/{window_id}"' in edit
    assert client.get("/admin/windows/999/edit").status_code == 404

    # Re-sending the shown (minute-rounded) start must not move it.
    starts_at = get(app, window_id).starts_at
    fields = dict(
        starts_at=starts_at.strftime("%Y-%m-%dT%H:%MZ"),
        ends_at=get(app, window_id).ends_at.strftime("%Y-%m-%dT%H:%MZ"),
        notice_minutes="0", drain_minutes="0", message="After", eta="", allowed_ips="", scope_paths="",
    )
    saved = client.post(f"/admin/windows/{window_id}", data=form(admin, **fields), headers=HX)
    assert saved.status_code == 200 and saved.headers["HX-Redirect"] == "/admin"
    assert get(app, window_id).message == "After"
    assert get(app, window_id).starts_at == starts_at

    cancelled = client.post(f"/admin/windows/{window_id}/cancel", data={"csrf_token": admin}, headers=HX)
    assert cancelled.status_code == 200
    html = cancelled.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="admin-panel"')
    assert "Maintenance window cancelled." in html
    assert get(app, window_id).status == "cancelled"
    again = client.post(f"/admin/windows/{window_id}/cancel", data={"csrf_token": admin}, headers=HX)
    assert again.status_code == 409


def test_dashboard_extend_button(app, client, admin, activate):
    activate(message="Open-ended")
    assert "Extend by 30 min" not in client.get("/admin").get_data(as_text=True)
    maintenance_service_end(app)
    activate(message="With an end", ends_at="20m")
    assert "Extend by 30 min" in client.get("/admin").get_data(as_text=True)
    before = current_ends_at(app)
    response = client.post("/admin/maintenance/extend", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 200
    assert current_ends_at(app) == before + timedelta(minutes=30)
    assert "minutes later" in response.get_data(as_text=True)


def maintenance_service_end(app):
    with app.app_context():
        maintenance_service.end_window(ADMIN)


def current_ends_at(app):
    with app.app_context():
        return state_service.current_window().ends_at
