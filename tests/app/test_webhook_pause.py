"""Holding inbound webhooks from the CLI and the dashboard (issue 15): set, shown, audited, resumed."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow, PaymentEvent
from tests.app.test_webhooks import events, process, stripe_event, stripe_headers

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


def run(runner, *args):
    return runner.invoke(args=list(args))


def window_flag(app) -> bool:
    with app.app_context():
        return db.session.scalars(select(MaintenanceWindow).order_by(MaintenanceWindow.id.desc())).first(
        ).pause_webhook_processing


def audit_details(app, action: str) -> list[dict]:
    with app.app_context():
        return [entry.details for entry in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )]


def send_stripe(client, event_id: str) -> None:
    body = stripe_event(event_id)
    assert client.post("/webhooks/stripe", data=body, headers=stripe_headers(body)).status_code == 200


def payments(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(PaymentEvent.event_id).order_by(PaymentEvent.id)))


# -- CLI -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "held"), [([], False), (["--pause-webhooks"], True), (["--process-webhooks"], False)])
def test_cli_on_sets_the_hold_and_the_audit_entry_says_so(app, runner, args, held):
    result = run(runner, "maintenance", "on", *args)
    assert result.exit_code == 0, result.output
    assert window_flag(app) is held
    assert audit_details(app, "maintenance.activated")[0]["after"]["pause_webhook_processing"] is held


@pytest.mark.parametrize(("start", "option", "after"), [(False, "--pause-webhooks", True), (True, "--process-webhooks", False)])
def test_cli_update_sets_and_clears_the_hold(app, runner, start, option, after):
    assert run(runner, "maintenance", "on", *(["--pause-webhooks"] if start else [])).exit_code == 0
    result = run(runner, "maintenance", "update", option)
    assert result.exit_code == 0, result.output
    assert window_flag(app) is after
    assert audit_details(app, "maintenance.updated") == [
        {"before": {"pause_webhook_processing": start}, "after": {"pause_webhook_processing": after}}
    ]


def test_cli_update_without_the_option_keeps_the_hold(app, runner):
    assert run(runner, "maintenance", "on", "--pause-webhooks").exit_code == 0
    assert run(runner, "maintenance", "update", "--message", "Still here").exit_code == 0
    assert window_flag(app) is True


@pytest.mark.parametrize(("args", "held"), [([], False), (["--pause-webhooks"], True)])
def test_cli_schedule_sets_the_hold(app, runner, args, held):
    result = run(runner, "maintenance", "schedule", "--start", "2h", "--ends-at", "3h", *args)
    assert result.exit_code == 0, result.output
    assert window_flag(app) is held
    assert audit_details(app, "maintenance.scheduled")[0]["after"]["pause_webhook_processing"] is held


def test_cli_on_twice_with_a_different_hold_is_refused(app, runner):
    assert run(runner, "maintenance", "on", "--pause-webhooks").exit_code == 0
    assert run(runner, "maintenance", "on", "--pause-webhooks").exit_code == 0  # the same window: done
    again = run(runner, "maintenance", "on")
    assert again.exit_code == 1 and "already active" in again.output


def test_cli_status_says_how_many_webhooks_wait(app, runner, client):
    assert run(runner, "maintenance", "on", "--pause-webhooks").exit_code == 0
    send_stripe(client, "evt_held_1")
    send_stripe(client, "evt_held_2")
    text = run(runner, "maintenance", "status").output
    assert "webhooks: held (2 waiting), processed when the window ends" in text
    body = json.loads(run(runner, "maintenance", "status", "--json").output)
    assert body["webhooks"] == {"held": True, "waiting": 2}
    assert body["window"]["pause_webhook_processing"] is True


def test_cli_status_says_nothing_about_webhooks_when_not_held(runner):
    assert run(runner, "maintenance", "on").exit_code == 0
    assert "webhooks:" not in run(runner, "maintenance", "status").output
    assert "webhooks" not in json.loads(run(runner, "maintenance", "status", "--json").output)


# -- dashboard -------------------------------------------------------------------------------


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    return auth.csrf()


def form(token, **fields):
    data = {"csrf_token": token, "roles_present": "1", "webhooks_present": "1", "reason": "other", "mode": "full"}
    data.update(fields)
    return data


def test_the_forms_show_the_checkbox(client, admin):
    text = "Hold incoming webhooks until the window ends"
    assert text in client.get("/admin").get_data(as_text=True)
    assert text in client.get("/admin/windows/new").get_data(as_text=True)


@pytest.mark.parametrize(("fields", "held"), [({"pause_webhook_processing": "1"}, True), ({}, False)])
def test_dashboard_activate_sets_the_hold(app, client, admin, fields, held):
    response = client.post("/admin/maintenance/activate", data=form(admin, **fields), headers=HX)
    assert response.status_code == 200
    assert window_flag(app) is held
    assert ("Webhooks held: 0 waiting" in response.get_data(as_text=True)) is held


@pytest.mark.parametrize(("start", "fields", "after"), [
    (False, {"pause_webhook_processing": "1"}, True),
    (True, {}, False),  # unticked: the box sends nothing, the marker says it was shown
])
def test_dashboard_update_sets_and_clears_the_hold(app, client, admin, activate, start, fields, after):
    activate(message="Deploy", pause_webhook_processing=start)
    response = client.post("/admin/maintenance/update", data=form(admin, message="Deploy", **fields), headers=HX)
    assert response.status_code == 200
    assert window_flag(app) is after
    assert audit_details(app, "maintenance.updated") == [
        {"before": {"pause_webhook_processing": start}, "after": {"pause_webhook_processing": after}}
    ]


def test_update_form_shows_the_hold_ticked(client, admin, activate):
    activate(pause_webhook_processing=True)
    html = client.get("/admin").get_data(as_text=True)
    assert 'name="pause_webhook_processing" value="1" checked' in html


def test_dashboard_schedule_sets_the_hold(app, client, admin):
    response = client.post(
        "/admin/windows", headers=HX,
        data=form(admin, starts_at="2h", ends_at="3h", notice_minutes="0", drain_minutes="0",
                  pause_webhook_processing="1"),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert window_flag(app) is True


def test_resume_now_processes_the_held_webhooks(app, client, admin, activate):
    activate(mode="full", pause_webhook_processing=True)
    send_stripe(client, "evt_a")
    send_stripe(client, "evt_b")
    assert process(app).held and payments(app) == []
    card = client.get("/admin/status-card", headers=HX).get_data(as_text=True)
    assert "Webhooks held: 2 waiting" in card and "Resume processing now" in card

    response = client.post("/admin/maintenance/resume-webhooks", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 200
    assert "Webhooks held" not in response.get_data(as_text=True)
    assert window_flag(app) is False
    assert audit_details(app, "maintenance.updated") == [
        {"before": {"pause_webhook_processing": True}, "after": {"pause_webhook_processing": False}}
    ]
    process(app)
    assert payments(app) == ["evt_a", "evt_b"]
    assert {event.status for event in events(app)} == {"processed"}


def test_resume_now_needs_csrf(app, client, admin, activate):
    activate(pause_webhook_processing=True)
    response = client.post("/admin/maintenance/resume-webhooks", data={}, headers=HX)
    assert response.status_code == 400
    assert window_flag(app) is True


def test_resume_now_without_an_active_window_is_refused(app, client, admin):
    response = client.post("/admin/maintenance/resume-webhooks", data={"csrf_token": admin}, headers=HX)
    assert response.status_code == 404
    assert audit_details(app, "maintenance.updated") == []
