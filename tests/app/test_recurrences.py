"""Recurring windows end to end: planning ordinary windows, skip, move, edit, pause, delete, API, CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import hooks
from app.extensions import db
from app.maintenance.recurrence import WEEKDAYS
from app.maintenance.validation import ValidationError, validate_window
from app.models import AuditEntry, MaintenanceState, MaintenanceWindow
from app.services import NotFound
from app.services import recurrences as recurrence_service
from app.services import scheduling as scheduling_service

ADMIN = Actor("admin@example.com")
# A Saturday noon (UTC) two weeks before Brazil's 2018 spring-forward (Sunday 2018-11-04).
NOW = datetime(2018, 10, 20, 12, 0, tzinfo=UTC)
WEEKLY = {"frequency": "weekly", "weekday": "SU", "start": "02:00", "end": "04:00",
          "time_zone": "America/Sao_Paulo", "message": "Weekly upkeep", "reason": "database",
          "notice_minutes": 60}
URL = "/api/admin/recurrences"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def create(app, now=NOW, **overrides):
    with app.app_context():
        return recurrence_service.create_recurrence({**WEEKLY, **overrides}, ADMIN, now).id


def occurrences(app, recurrence_id):
    """(window id, status, starts_at, ends_at, message) of every window of the recurrence, by start."""
    with app.app_context():
        rows = db.session.scalars(
            select(MaintenanceWindow).where(MaintenanceWindow.recurrence_id == recurrence_id)
            .order_by(MaintenanceWindow.starts_at, MaintenanceWindow.id)
        )
        return [(row.id, row.status, row.starts_at, row.ends_at, row.message) for row in rows]


def live(app, recurrence_id):
    return [row for row in occurrences(app, recurrence_id) if row[1] == "scheduled"]


def actions(app):
    with app.app_context():
        return [entry.action for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def scheduled_hooks():
    seen: list[int] = []

    def hook(window, **details):
        seen.append(window.id)

    hooks.on("window.scheduled", hook)
    yield seen
    hooks.off("window.scheduled", hook)


# -- planning ----------------------------------------------------------------------------------


def test_creating_plans_the_next_four_as_ordinary_windows_across_dst(app, scheduled_hooks):
    recurrence_id = create(app)
    rows = occurrences(app, recurrence_id)
    # 02:00–04:00 in São Paulo: -03 until 2018-11-04, then -02 (the UTC hour moves, not the local one).
    assert [(row[2], row[3]) for row in rows] == [
        (utc("2018-10-21 05:00"), utc("2018-10-21 07:00")),
        (utc("2018-10-28 05:00"), utc("2018-10-28 07:00")),
        (utc("2018-11-04 04:00"), utc("2018-11-04 06:00")),
        (utc("2018-11-11 04:00"), utc("2018-11-11 06:00")),
    ]
    assert {row[1] for row in rows} == {"scheduled"} and {row[4] for row in rows} == {"Weekly upkeep"}
    with app.app_context():
        window = db.session.get(MaintenanceWindow, rows[0][0])
        assert (window.reason, window.notice_minutes, window.eta) == ("database", 60, window.ends_at)
        assert window.occurrence_at == window.starts_at and window.recurrence.id == recurrence_id
    assert scheduled_hooks == [row[0] for row in rows]  # notices, feeds, webhooks hear of each
    assert actions(app)[-5:] == ["recurrence.created"] + ["maintenance.scheduled"] * 4


def test_planning_again_is_idempotent_and_takes_no_lock(app):
    recurrence_id = create(app)
    with app.app_context():
        version = db.session.get(MaintenanceState, 1).version
        assert recurrence_service.plan_ahead(NOW) == []
        assert recurrence_service.plan_ahead(NOW + timedelta(minutes=5)) == []
        db.session.expire_all()
        assert db.session.get(MaintenanceState, 1).version == version  # no gate revalidation either
    assert len(occurrences(app, recurrence_id)) == 4


def test_a_week_later_the_next_occurrence_is_planned(app):
    recurrence_id = create(app)
    with app.app_context():
        planned = recurrence_service.plan_ahead(NOW + timedelta(days=7))
        assert [window.starts_at for window in planned] == [utc("2018-11-18 04:00")]
    assert len(occurrences(app, recurrence_id)) == 5


def test_the_same_occurrence_cannot_be_stored_twice(app):
    recurrence_id = create(app)
    first = occurrences(app, recurrence_id)[0]
    with app.app_context():
        db.session.add(MaintenanceWindow(
            status="scheduled", starts_at=first[2], ends_at=first[3], created_by="system",
            recurrence_id=recurrence_id, occurrence_at=first[2],
        ))
        with pytest.raises(IntegrityError):
            db.session.commit()


def test_an_occurrence_that_overlaps_a_window_planned_by_hand_is_left_out(app):
    with app.app_context():
        scheduling_service.schedule_window(
            validate_window({"starts_at": "2018-10-28T04:00Z", "ends_at": "2018-10-28T08:00Z"}, NOW), ADMIN, NOW
        )
    recurrence_id = create(app)
    assert [row[2] for row in occurrences(app, recurrence_id)] == [
        utc("2018-10-21 05:00"), utc("2018-11-04 04:00"), utc("2018-11-11 04:00"),
    ]


def test_a_bad_spec_names_its_fields_and_stores_nothing(app):
    with app.app_context(), pytest.raises(ValidationError) as raised:
        recurrence_service.create_recurrence({**WEEKLY, "time_zone": "Mars/Base", "ends_at": "2h"}, ADMIN, NOW)
    assert set(raised.value.fields) == {"time_zone", "ends_at"}
    with app.app_context():
        assert recurrence_service.list_recurrences() == []


# -- skip, move, edit, pause, delete --------------------------------------------------------------


def test_a_skipped_occurrence_is_not_planned_again(app):
    recurrence_id = create(app)
    skipped = occurrences(app, recurrence_id)[1][0]
    with app.app_context():
        scheduling_service.cancel_window(skipped, ADMIN, NOW)
        assert recurrence_service.plan_ahead(NOW + timedelta(minutes=5)) == []
    rows = occurrences(app, recurrence_id)
    assert [row[1] for row in rows] == ["scheduled", "cancelled", "scheduled", "scheduled"]


def move(app, window_id, starts_at, ends_at):
    with app.app_context():
        data = validate_window({"starts_at": starts_at, "ends_at": ends_at, "eta": ends_at}, NOW, partial=True)
        scheduling_service.update_scheduled_window(window_id, data, ADMIN, NOW)


def test_a_moved_occurrence_stays_linked_and_is_not_planned_again(app):
    recurrence_id = create(app)
    moved = occurrences(app, recurrence_id)[0][0]
    move(app, moved, "2018-10-21T08:00Z", "2018-10-21T09:00Z")
    with app.app_context():
        assert recurrence_service.plan_ahead(NOW + timedelta(minutes=5)) == []
        body = recurrence_service.recurrence_json(recurrence_service.get_recurrence(recurrence_id), NOW)
    assert [item["moved"] for item in body["occurrences"]] == [True, False, False, False]
    assert body["occurrences"][0]["starts_at"] == "2018-10-21T08:00:00+00:00"
    assert len(occurrences(app, recurrence_id)) == 4


def test_editing_the_message_updates_untouched_occurrences_and_keeps_moved_ones(app):
    recurrence_id = create(app)
    moved = occurrences(app, recurrence_id)[0][0]
    move(app, moved, "2018-10-21T08:00Z", "2018-10-21T09:00Z")
    with app.app_context():
        recurrence_service.update_recurrence(recurrence_id, {"message": "New text"}, ADMIN, NOW)
    rows = occurrences(app, recurrence_id)
    assert [(row[0] == moved, row[4]) for row in rows] == [
        (True, "Weekly upkeep"), (False, "New text"), (False, "New text"), (False, "New text"),
    ]
    assert "recurrence.updated" in actions(app) and actions(app).count("maintenance.updated") == 4


def test_editing_the_times_replans_untouched_occurrences(app):
    recurrence_id = create(app)
    moved = occurrences(app, recurrence_id)[0][0]
    move(app, moved, "2018-10-21T08:00Z", "2018-10-21T09:00Z")
    with app.app_context():
        recurrence_service.update_recurrence(recurrence_id, {"start": "03:00", "end": "05:00"}, ADMIN, NOW)
    rows = live(app, recurrence_id)
    assert [row[2] for row in rows] == [
        utc("2018-10-21 08:00"),  # the moved one, kept
        utc("2018-10-28 06:00"), utc("2018-11-04 05:00"), utc("2018-11-11 05:00"),
    ]
    assert len([row for row in occurrences(app, recurrence_id) if row[1] == "cancelled"]) == 3


def test_pausing_cancels_future_untouched_occurrences_and_resuming_plans_them_again(app):
    recurrence_id = create(app)
    moved = occurrences(app, recurrence_id)[0][0]
    move(app, moved, "2018-10-21T08:00Z", "2018-10-21T09:00Z")
    with app.app_context():
        recurrence_service.pause_recurrence(recurrence_id, ADMIN, NOW)
        assert recurrence_service.plan_ahead(NOW) == []
    assert [row[0] for row in live(app, recurrence_id)] == [moved]
    with app.app_context():
        recurrence_service.resume_recurrence(recurrence_id, ADMIN, NOW)
    assert [row[2] for row in live(app, recurrence_id)] == [
        utc("2018-10-21 08:00"), utc("2018-10-28 05:00"), utc("2018-11-04 04:00"), utc("2018-11-11 04:00"),
    ]
    assert {"recurrence.paused", "recurrence.resumed"} <= set(actions(app))


def test_deleting_cancels_future_occurrences_and_stops_planning(app):
    recurrence_id = create(app)
    with app.app_context():
        recurrence_service.delete_recurrence(recurrence_id, ADMIN, NOW)
        assert recurrence_service.plan_ahead(NOW + timedelta(days=7)) == []
        with pytest.raises(NotFound):
            recurrence_service.get_recurrence(recurrence_id)
    assert live(app, recurrence_id) == []
    assert "recurrence.deleted" in actions(app)


# -- worker, API, CLI ---------------------------------------------------------------------------


def test_the_worker_plans_ahead(app, runner):
    from app.models import Recurrence
    from app.worker import load_tasks

    assert "plan-recurring-windows" in load_tasks().names()
    with app.app_context():  # defined but never planned, as after a restore from a backup
        db.session.add(Recurrence(rule={key: WEEKLY[key] for key in ("frequency", "weekday", "start", "end",
                                        "time_zone")}, window={"message": "From the worker"}, created_by="test"))
        db.session.commit()
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert result.output.count("planned for recurrence 1") == 4
    assert [row[4] for row in live(app, 1)] == ["From the worker"] * 4


def api_spec(**overrides):
    now = datetime.now(UTC)
    return {**WEEKLY, "time_zone": "UTC", "weekday": WEEKDAYS[(now + timedelta(days=2)).weekday()], **overrides}


def test_api_create_list_pause_delete(client, auth):
    auth.login()
    token = auth.csrf()
    headers = {"X-CSRFToken": token}
    created = client.post(URL, json=api_spec(), headers=headers)
    assert created.status_code == 201
    body = created.get_json()
    assert body["status"] == "active" and body["message"] == "Weekly upkeep"
    assert len(body["occurrences"]) == 4 and not any(item["moved"] for item in body["occurrences"])
    window = client.get("/api/admin/maintenance/windows").get_json()["windows"][0]
    assert window["recurrence_id"] == body["id"] and window["occurrence_at"]
    listed = client.get(URL).get_json()["recurrences"]
    assert [item["id"] for item in listed] == [body["id"]]
    paused = client.patch(f"{URL}/{body['id']}", json={"status": "paused"}, headers=headers)
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    assert paused.get_json()["occurrences"] == []  # called off and freed, for a resume to plan again
    changed = client.patch(f"{URL}/{body['id']}", json={"message": "Changed", "status": "active"}, headers=headers)
    assert changed.get_json()["message"] == "Changed" and len(changed.get_json()["occurrences"]) == 4
    assert client.delete(f"{URL}/{body['id']}", headers=headers).get_json()["status"] == "deleted"
    assert client.get(f"{URL}/{body['id']}").status_code == 404


def test_api_answers_400_with_the_fields(client, auth):
    auth.login()
    headers = {"X-CSRFToken": auth.csrf()}
    response = client.post(URL, json=api_spec(frequency="daily", week=9, start="25:00"), headers=headers)
    assert response.status_code == 400
    assert set(response.get_json()["fields"]) == {"frequency", "week", "start"}
    assert client.patch(f"{URL}/99", json={"message": "x"}, headers=headers).status_code == 404
    assert client.patch(f"{URL}/99", json={"status": "gone"}, headers=headers).status_code == 400


def test_api_is_for_admins_only(client, auth):
    auth.login("developer")
    assert client.get(URL).status_code == 403


def test_cli_create_list_pause_delete(app, runner):
    created = runner.invoke(args=[
        "recurrences", "create", "--frequency", "monthly", "--weekday", "TU", "--week", "1",
        "--start", "01:00", "--end", "03:00", "--time-zone", "Europe/Lisbon", "--message", "Monthly",
    ])
    assert created.exit_code == 0, created.output
    assert "monthly on TU week 1 01:00-03:00 Europe/Lisbon" in created.output
    assert created.output.count("  window ") >= 2
    listed = runner.invoke(args=["recurrences", "list"])
    assert "recurrence 1 (active)" in listed.output
    assert runner.invoke(args=["recurrences", "pause", "1"]).exit_code == 0
    assert "recurrence 1 (paused)" in runner.invoke(args=["recurrences", "list"]).output
    assert runner.invoke(args=["recurrences", "resume", "1"]).exit_code == 0
    assert runner.invoke(args=["recurrences", "delete", "1"]).exit_code == 0
    assert runner.invoke(args=["recurrences", "list"]).output.strip() == "No recurrences."
    bad = runner.invoke(args=["recurrences", "create", "--frequency", "weekly", "--weekday", "XX",
                              "--start", "1", "--end", "03:00", "--time-zone", "Nowhere"])
    assert bad.exit_code == 2 and "--weekday" in bad.output and "--time-zone" in bad.output
    assert runner.invoke(args=["recurrences", "pause", "7"]).exit_code == 1


# -- dashboard ----------------------------------------------------------------------------------

HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


def test_dashboard_defines_lists_pauses_and_deletes(client, auth):
    auth.login()
    token = auth.csrf()
    form = {"csrf_token": token, "frequency": "monthly", "weekday": "TU", "week": "1", "start": "01:00",
            "end": "03:00", "time_zone": "Europe/Lisbon", "message": "Monthly upkeep", "reason": "database",
            "notice_minutes": "30", "drain_minutes": ""}
    answer = client.post("/admin/recurrences", data=form, headers=HX)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Recurrence created; its next occurrences are planned." in page
    assert "Monthly on the first Tuesday, 01:00–03:00 (Europe/Lisbon)" in page
    assert "Monthly upkeep" in page and "01:00 WE" in page  # local times, in the recurrence's zone
    assert "(repeats monthly)" in page  # the planned windows say which ones are occurrences
    paused = client.post("/admin/recurrences/1/pause", data={"csrf_token": token}, headers=HX)
    assert "(paused)" in paused.get_data(as_text=True) and "Resume recurrence 1" in paused.get_data(as_text=True)
    assert "(repeats monthly)" not in paused.get_data(as_text=True)
    deleted = client.post("/admin/recurrences/1/delete", data={"csrf_token": token}, headers=HX)
    assert "No recurring window." in deleted.get_data(as_text=True)


def test_dashboard_shows_errors_beside_the_fields_and_keeps_the_input(client, auth):
    auth.login()
    form = {"csrf_token": auth.csrf(), "frequency": "weekly", "weekday": "SU", "start": "02:00",
            "end": "02:00", "time_zone": "Atlantis/Nowhere", "message": "Kept text"}
    answer = client.post("/admin/recurrences", data=form, headers=HX)
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert 'id="recurrence-time_zone-error"' in page and 'id="recurrence-end-error"' in page
    assert 'value="Atlantis/Nowhere"' in page and "Kept text" in page

