"""What operators are told matches what the gate enforces: one rule for a manual window over a
planned one, idempotent `on`/`off` for deploy scripts, lengths that count from the start."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, MaintenanceWindow
from app.services import scheduling as scheduling_service
from app.services import tokens as token_service

URL = "/api/admin/maintenance"


@pytest.fixture
def bearer(app):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], Actor("cli:test"))
    return {"Authorization": f"Bearer {raw}"}



def run(runner, *args):
    return runner.invoke(args=list(args))


def in_seconds(seconds: float) -> str:
    return (utcnow() + timedelta(seconds=seconds)).isoformat()


def wait_until(moment: str) -> None:
    time.sleep(max(0.0, (datetime.fromisoformat(moment) - utcnow()).total_seconds()) + 0.2)


def planned_then_manual(runner) -> str:
    """Plan a window that starts in 2 s, then turn maintenance on by hand before it starts."""
    start = in_seconds(2)
    planned = run(runner, "maintenance", "schedule", "--start", start, "--ends-at", "10m", "--message", "Planned")
    assert planned.exit_code == 0, planned.output
    manual = run(runner, "maintenance", "on", "--eta", "15m", "--message", "Incident")
    assert manual.exit_code == 0, manual.output
    # The operator is told now, not at 2 a.m., that the two will overlap.
    assert "window 1 is planned to start" in manual.output and "`off` ends both" in manual.output
    return start


def test_off_ends_every_window_in_effect_and_the_site_comes_back(app, runner, client):
    start = planned_then_manual(runner)
    wait_until(start)
    assert client.get("/").status_code == 503

    status = run(runner, "maintenance", "status")
    assert "Maintenance is ON (window 2" in status.output
    assert "also in effect: window 1" in status.output
    assert "started by the schedule" in status.output and "None" not in status.output
    facts = json.loads(run(runner, "maintenance", "status", "--json").output)
    assert [window["id"] for window in facts["in_effect"]] == [2, 1]

    off = run(runner, "maintenance", "off")
    assert off.exit_code == 0, off.output
    assert off.output.strip() == "Maintenance is OFF (windows 2 and 1 ended)."
    assert client.get("/").status_code == 200  # what `off` said is what the gate does
    assert run(runner, "maintenance", "status").output.strip() == "Maintenance is OFF."
    with app.app_context():
        planned = db.session.get(MaintenanceWindow, 1)
        assert (planned.status, planned.started_by, planned.ended_how) == ("completed", "system", "manual")
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.target == "window:1").order_by(AuditEntry.id)
        ).all()
        assert actions == ["maintenance.scheduled", "maintenance.started", "maintenance.ended"]


def test_a_deploy_ending_its_own_window_is_told_the_planned_one_stays_on(app, runner, client, bearer):
    start = planned_then_manual(runner)
    wait_until(start)
    answer = client.delete(f"{URL}?window=2", headers=bearer)
    assert answer.status_code == 200
    assert answer.json["ended"] == [2]
    assert answer.json["active"] is True  # the truth: maintenance is still enforced
    assert answer.json["still_in_effect"]["id"] == 1
    assert client.get("/").status_code == 503
    assert client.get(URL, headers=bearer).json["window"]["id"] == 1


def test_on_and_off_again_are_done_for_deploy_scripts(runner, client):
    first = run(runner, "maintenance", "on", "--message", "Deploy 7", "--eta", "30m", "--reason", "deployment")
    assert first.exit_code == 0, first.output
    again = run(runner, "maintenance", "on", "--message", "Deploy 7", "--eta", "30m", "--reason", "deployment")
    assert again.exit_code == 0, again.output
    assert again.output.startswith("Maintenance is already ON with these values (window 1")
    other = run(runner, "maintenance", "on", "--message", "Someone else's")
    assert other.exit_code == 1 and "already active" in other.output
    assert run(runner, "maintenance", "off").exit_code == 0
    off_again = run(runner, "maintenance", "off")
    assert (off_again.exit_code, off_again.output.strip()) == (0, "Maintenance is already OFF.")


def test_schedule_lengths_count_from_the_start(app, runner):
    result = run(runner, "maintenance", "schedule", "--start", "2h", "--eta", "30m", "--ends-at", "1h")
    assert result.exit_code == 0, result.output
    with app.app_context():
        window = db.session.get(MaintenanceWindow, 1)
        assert window.eta - window.starts_at == timedelta(minutes=30)
        assert window.ends_at - window.starts_at == timedelta(hours=1)
        # Editing a planned window: a length counts from its stored start, not from now.
        now = utcnow()
        edited = scheduling_service.update_scheduled_window(
            1, validate_window({"eta": "45m"}, now, partial=True), Actor("t"), now
        )
        assert edited.eta - edited.starts_at == timedelta(minutes=45)


def test_hints_never_show_a_moment_in_the_past(runner):
    result = run(runner, "maintenance", "schedule", "--start", "later")
    assert result.exit_code == 2
    example = result.output.split("like ")[1].split(",")[0]
    assert datetime.fromisoformat(example.replace("Z", "+00:00")) > datetime.now(UTC)
    assert "from the start" in run(runner, "maintenance", "schedule", "--help").output


def test_status_names_the_next_planned_window(runner):
    run(runner, "maintenance", "schedule", "--start", "19m", "--eta", "30m", "--message", "Upgrade")
    status = run(runner, "maintenance", "status")
    lines = status.output.splitlines()
    assert lines[0] == "Maintenance is OFF."
    assert lines[1].startswith("Planned: window 1") and "(in 19 min)" in lines[1]
    facts = json.loads(run(runner, "maintenance", "status", "--json").output)
    assert facts["active"] is False
    assert 1130 <= facts["upcoming"][0]["seconds_until_start"] <= 1140


def test_refused_changes_do_not_use_up_the_change_limit(client, bearer):
    for _ in range(6):  # each fails validation and changes nothing
        assert client.post(URL, json={"mode": "sideways"}, headers=bearer).status_code == 400
    assert client.post(URL, json={}, headers=bearer).status_code == 201


def test_the_cli_sets_a_message_per_language(runner, client):
    result = run(runner, "maintenance", "on", "--message", "Back soon", "--message-in", "pt-BR", "Voltamos logo")
    assert result.exit_code == 0, result.output
    assert "Voltamos logo" in client.get("/", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "Back soon" in client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    bad = run(runner, "maintenance", "update", "--message-in", "xx", "?")
    assert bad.exit_code == 2 and "Error: --message-in xx: Unknown language" in bad.output


def test_the_dashboard_shows_both_windows_and_end_brings_the_site_back(app, runner, client, auth):
    start = planned_then_manual(runner)
    wait_until(start)
    visitor = app.test_client()  # the admin's own client passes the gate anyway
    assert visitor.get("/").status_code == 503
    auth.login("admin")
    page = client.get("/admin").get_data(as_text=True)
    assert "Planned window 1 is in effect too" in page and "by None" not in page
    response = client.post("/admin/maintenance/end", data={"csrf_token": auth.csrf()},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert visitor.get("/").status_code == 200
