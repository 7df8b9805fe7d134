"""Admin alerts (docs/notifications.md): raised once per cause, sent once by email and/or Slack, audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import func, select

from app import hooks
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import AdminAlert, AuditEntry
from app.services import alerts as alerts_service
from app.services import clock as clock_service
from app.services import maintenance as maintenance_service
from app.services import scheduling as scheduling_service
from app.worker import Worker
from tests.support.apps import make_app
from tests.support.fake_http import HANG, FakeHTTPServer

ADMIN = Actor("admin@example.com")


@pytest.fixture
def slack():
    with FakeHTTPServer() as server:
        yield server


def alerts(app) -> list[AdminAlert]:
    with app.app_context():
        rows = list(db.session.scalars(select(AdminAlert).order_by(AdminAlert.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def audit_actions(app, prefix: str = "alert.") -> list[tuple[str, dict]]:
    with app.app_context():
        return [
            (entry.action, entry.details or {})
            for entry in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            if entry.action.startswith(prefix)
        ]


def send(app, now=None) -> list[str]:
    with app.app_context():
        return [alert.cause for alert in alerts_service.send_pending_alerts(now)]


def hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M")


def run_worker(app) -> None:
    worker = Worker(app, handle_signals=False, echo=lambda text: None)
    assert worker.run(once=True) == 0


# -- raising -----------------------------------------------------------------------------------


def test_a_cause_is_raised_once_and_audited(app):
    with app.app_context():
        assert alerts_service.raise_alert("overdue:window:7:x", "overdue", "Window 7 is overdue") is True
        assert alerts_service.raise_alert("overdue:window:7:x", "overdue", "Window 7 is overdue") is False
        assert alerts_service.raise_alert("ceiling:window:7", "ceiling", "Too long") is True
    rows = alerts(app)
    assert [(a.cause, a.kind, a.sent_at, a.attempts) for a in rows] == [
        ("overdue:window:7:x", "overdue", None, 0), ("ceiling:window:7", "ceiling", None, 0),
    ]
    raised = audit_actions(app)
    assert [action for action, _ in raised] == ["alert.raised", "alert.raised"]
    assert raised[0][1] == {"cause": "overdue:window:7:x", "kind": "overdue", "summary": "Window 7 is overdue"}
    with app.app_context():
        assert alerts_service.count_pending() == 2


def test_the_audit_chain_stays_valid(app):
    from app.services import audit

    with app.app_context():
        alerts_service.raise_alert("a", "overdue", "x")
        alerts_service.raise_alert("a", "overdue", "x")
        assert audit.verify_chain().ok


def test_dead_letter_alert_is_ready_for_webhooks(app):
    with app.app_context():
        assert alerts_service.alert_dead_letter("stripe", "evt_123", "5 attempts failed")
        assert not alerts_service.alert_dead_letter("stripe", "evt_123")
        assert alerts_service.alert_dead_letter("github", "evt_123")
    rows = alerts(app)
    assert [(a.cause, a.kind) for a in rows] == [
        ("dead_letter:stripe:evt_123", "dead_letter"), ("dead_letter:github:evt_123", "dead_letter"),
    ]
    assert "evt_123" in rows[0].summary and "5 attempts failed" in rows[0].summary


def test_circuit_open_alert_once_per_opening(app):
    opened = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        alerts_service.on_circuit_open(None, name="sendgrid", opened_at=opened, error="503")
        alerts_service.on_circuit_open(None, name="sendgrid", opened_at=opened)
        alerts_service.alert_circuit_open("sendgrid", opened + timedelta(hours=1))
    assert [a.cause for a in alerts(app)] == [
        f"circuit:sendgrid:{opened.isoformat()}", f"circuit:sendgrid:{(opened + timedelta(hours=1)).isoformat()}",
    ]
    if "mail.circuit_open" in hooks.EVENTS:
        assert alerts_service.on_circuit_open in hooks.handlers("mail.circuit_open")


def test_hooks_are_registered_next_to_the_logging_one(app):
    assert hooks.log_alert in hooks.handlers("window.overdue")
    assert alerts_service.on_window_overdue in hooks.handlers("window.overdue")
    assert alerts_service.on_window_ceiling_exceeded in hooks.handlers("window.ceiling_exceeded")
    assert alerts_service.on_window_started in hooks.handlers("window.started")


def test_invalid_planned_window_stops_startup(tmp_path):
    with pytest.raises(ValueError, match="PLANNED_WINDOW 'nightly' is not valid"):
        make_app(tmp_path, PLANNED_WINDOW="nightly")


# -- the causes, from real transitions -------------------------------------------------------------


def test_activation_outside_the_planned_window_alerts_once(tmp_path):
    now = utcnow()
    planned = f"{hhmm(now + timedelta(hours=2))}-{hhmm(now + timedelta(hours=3))} UTC"
    app = make_app(tmp_path, PLANNED_WINDOW=planned)
    with app.app_context():
        window = maintenance_service.activate_window(validate_window({"message": "Oops"}, now), ADMIN)
        window_id = window.id
    rows = alerts(app)
    assert [(a.cause, a.kind) for a in rows] == [(f"unplanned:window:{window_id}", "unplanned")]
    assert planned in rows[0].summary and "admin@example.com" in rows[0].summary
    assert [action for action, _ in audit_actions(app)] == ["alert.raised"]


def test_activation_inside_the_planned_window_does_not_alert(tmp_path):
    now = utcnow()
    planned = f"{hhmm(now - timedelta(hours=1))}-{hhmm(now + timedelta(hours=1))} UTC"
    app = make_app(tmp_path, PLANNED_WINDOW=planned)
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Planned"}, now), ADMIN)
    assert alerts(app) == []


def test_no_planned_window_means_no_unplanned_alert(app, activate):
    activate(message="Whenever")
    assert alerts(app) == []


def test_a_scheduled_window_starting_outside_the_planned_window_alerts(tmp_path):
    now = utcnow()
    planned = f"{hhmm(now + timedelta(hours=3))}-{hhmm(now + timedelta(hours=4))} UTC"
    app = make_app(tmp_path, PLANNED_WINDOW=planned)
    with app.app_context():
        window = scheduling_service.schedule_window(
            validate_window({"starts_at": "10m", "ends_at": "1h"}, now), ADMIN, now
        )
        window_id = window.id
        clock_service.start_due_windows(now + timedelta(minutes=11))
    assert [a.cause for a in alerts(app)] == [f"unplanned:window:{window_id}"]


def test_overdue_and_ceiling_alerts_through_the_worker_are_sent_once(tmp_path, slack):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/services/T/B/X"), MAINTENANCE_MAX_HOURS=1.0)
    now = utcnow()
    with app.app_context():
        window = scheduling_service.schedule_window(
            validate_window({
                "starts_at": (now - timedelta(hours=2)).isoformat(),
                "eta": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
            }, now - timedelta(hours=3)),
            ADMIN, now - timedelta(hours=3),
        )
        window_id, eta = window.id, window.eta.isoformat()
    run_worker(app)  # starts it, alerts overdue and ceiling, sends both (in one pass)
    run_worker(app)
    assert sorted((a.cause, a.sent_at is not None) for a in alerts(app)) == [
        (f"ceiling:window:{window_id}", True), (f"overdue:window:{window_id}:{eta}", True),
    ]
    assert slack.count == 2
    texts = sorted(request.json["text"] for request in slack.requests)
    assert "active for more than 1 h" in texts[0] and "overdue" in texts[1]
    assert all(request.method == "POST" and request.path == "/services/T/B/X" for request in slack.requests)
    actions = [action for action, _ in audit_actions(app)]
    assert actions.count("alert.raised") == 2 and actions.count("alert.sent") == 2


def test_alerts_are_written_in_the_operators_language(tmp_path, slack):
    """With BABEL_DEFAULT_LOCALE=pt_BR every alert is in Portuguese, on Slack, by email and on the dashboard."""
    app = make_app(tmp_path, BABEL_DEFAULT_LOCALE="pt_BR", SLACK_WEBHOOK_URL=slack.url("/services/T/B/X"),
                   ADMIN_ALERT_EMAILS=("ops@example.com",), MAINTENANCE_MAX_HOURS=1.0)
    now = utcnow()
    with app.app_context():
        scheduling_service.schedule_window(
            validate_window({
                "starts_at": (now - timedelta(hours=2)).isoformat(),
                "eta": (now - timedelta(minutes=1)).isoformat(),
                "ends_at": (now + timedelta(hours=1)).isoformat(),
            }, now - timedelta(hours=3)),
            ADMIN, now - timedelta(hours=3),
        )
    run_worker(app)
    overdue, ceiling = sorted(alerts(app), key=lambda alert: alert.kind, reverse=True)
    assert "está atrasada" in overdue.summary and "is overdue" not in overdue.summary
    assert "está ativa há mais de 1 h" in ceiling.summary and "active for more than" not in ceiling.summary
    texts = sorted(request.json["text"] for request in slack.requests)
    assert any("está atrasada" in text for text in texts)
    assert any("está ativa há mais de 1 h" in text for text in texts)
    from app import mail

    with app.app_context():
        subjects = sorted(sent["subject"] for sent in mail.outbox())
        bodies = [sent["bodies"]["ops@example.com"][0] for sent in mail.outbox()]
    assert subjects == ["[Pausa] alerta: atraso", "[Pausa] alerta: duração máxima"]
    assert all("Causa:" in body and "Cause:" not in body for body in bodies)


def test_an_alert_is_in_the_operators_language_whatever_the_admins_browser_says(tmp_path):
    from tests.support.apps import AuthActions

    now = utcnow()
    planned = f"{hhmm(now + timedelta(hours=2))}-{hhmm(now + timedelta(hours=3))} UTC"
    app = make_app(tmp_path, BABEL_DEFAULT_LOCALE="pt_BR", PLANNED_WINDOW=planned)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en-US,en;q=0.9"
    auth = AuthActions(client)
    auth.login("admin")
    started = client.post("/admin/maintenance/activate", data={"message": "Oops", "csrf_token": auth.csrf()})
    assert started.status_code in (200, 302)
    (raised,) = alerts(app)
    assert "fora da janela planejada" in raised.summary and "outside the planned window" not in raised.summary


def test_a_new_eta_that_passes_again_is_a_new_cause(app, activate):
    activate(message="Deploy", eta="20m", ends_at="2h")
    now = utcnow()
    with app.app_context():
        clock_service.alert_overdue_windows(now + timedelta(minutes=21))
        maintenance_service.update_window(validate_window({"eta": "40m"}, utcnow(), partial=True), ADMIN)
        clock_service.alert_overdue_windows(now + timedelta(minutes=41))
        clock_service.alert_overdue_windows(now + timedelta(minutes=45))
    causes = [a.cause for a in alerts(app)]
    assert len(causes) == 2 and len(set(causes)) == 2
    assert all(cause.startswith("overdue:window:") for cause in causes)


# -- sending ------------------------------------------------------------------------------------


def test_slack_gets_each_alert_once_even_when_raised_twice(tmp_path, slack):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/hook"))
    with app.app_context():
        alerts_service.raise_alert("ceiling:window:1", "ceiling", "Window 1 is too long")
        alerts_service.raise_alert("ceiling:window:1", "ceiling", "Window 1 is too long")
    assert send(app) == ["ceiling:window:1"]
    assert send(app) == []
    with app.app_context():
        alerts_service.raise_alert("ceiling:window:1", "ceiling", "Window 1 is too long")
    assert send(app) == []
    assert slack.count == 1
    assert slack.requests[0].json == {"text": "[Pausa] Window 1 is too long"}
    assert slack.requests[0].headers["Content-Type"] == "application/json"
    sent = [details for action, details in audit_actions(app) if action == "alert.sent"]
    assert sent == [{"cause": "ceiling:window:1", "channel": "slack", "attempt": 1}]
    (row,) = alerts(app)
    assert row.sent_at is not None and row.attempts == 1 and row.last_error is None


def test_slack_failure_is_retried_with_backoff_then_succeeds(tmp_path, slack):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/hook"), ALERT_RETRY_BASE_SECONDS=60)
    slack.script(500, 500, 200)
    with app.app_context():
        alerts_service.raise_alert("overdue:window:2:t", "overdue", "Window 2 is overdue")
    created = alerts(app)[0].created_at
    assert send(app, created) == []
    row = alerts(app)[0]
    assert (row.attempts, row.sent_at, row.last_error) == (1, None, "slack: Slack answered 500")
    assert send(app, created + timedelta(seconds=59)) == []  # backing off: not tried
    assert slack.count == 1
    assert send(app, created + timedelta(seconds=60)) == []  # second failure, now waits 120 s more
    assert send(app, created + timedelta(seconds=179)) == []
    assert slack.count == 2
    assert send(app, created + timedelta(seconds=180)) == ["overdue:window:2:t"]
    assert slack.count == 3
    row = alerts(app)[0]
    assert row.attempts == 3 and row.sent_at is not None and row.last_error is None
    assert [action for action, _ in audit_actions(app)] == ["alert.raised", "alert.sent"]


def test_a_hanging_slack_times_out_quickly(tmp_path, slack):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/hook"), SLACK_TIMEOUT_SECONDS=0.3,
                   ALERT_RETRY_BASE_SECONDS=1)
    slack.script(HANG, 200)
    with app.app_context():
        alerts_service.raise_alert("x", "overdue", "Hanging")
    started = utcnow()
    assert send(app) == []
    assert (utcnow() - started).total_seconds() < 3
    row = alerts(app)[0]
    assert row.attempts == 1 and "Slack unreachable" in row.last_error
    assert send(app, utcnow() + timedelta(seconds=2)) == ["x"]


def test_unreachable_slack_is_a_failure_not_a_crash(tmp_path):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL="http://127.0.0.1:9/hook", SLACK_TIMEOUT_SECONDS=0.5)
    with app.app_context():
        alerts_service.raise_alert("x", "overdue", "Nobody listens")
    assert send(app) == []
    assert "Slack unreachable" in alerts(app)[0].last_error


def test_email_through_the_memory_backend(tmp_path):
    from app import mail

    app = make_app(tmp_path, ADMIN_ALERT_EMAILS=("ops@example.com", "cto@example.com"))
    with app.app_context():
        alerts_service.raise_alert("ceiling:window:3", "ceiling", "Window 3 is too long")
    assert send(app) == ["ceiling:window:3"]
    assert send(app) == []
    with app.app_context():
        (sent,) = mail.outbox()
    assert sorted(sent["recipients"]) == ["cto@example.com", "ops@example.com"]
    assert sent["subject"] == "[Pausa] ceiling alert"
    assert "Window 3 is too long" in sent["bodies"]["ops@example.com"][0]


def test_email_is_not_sent_again_when_only_slack_failed(tmp_path, slack):
    from app import mail

    app = make_app(tmp_path, ADMIN_ALERT_EMAILS=("ops@example.com",), SLACK_WEBHOOK_URL=slack.url("/hook"),
                   ALERT_RETRY_BASE_SECONDS=1)
    slack.script(500, 200)
    with app.app_context():
        alerts_service.raise_alert("unplanned:window:4", "unplanned", "Window 4 outside the plan")
    assert send(app) == []
    assert send(app, utcnow() + timedelta(seconds=5)) == ["unplanned:window:4"]
    with app.app_context():
        assert len(mail.outbox()) == 1
    assert slack.count == 2
    channels = [details["channel"] for action, details in audit_actions(app) if action == "alert.sent"]
    assert channels == ["email", "slack"]


def test_gives_up_after_max_attempts(tmp_path, slack):
    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/hook"), ALERT_MAX_ATTEMPTS=2, ALERT_RETRY_BASE_SECONDS=1)
    slack.script(500)
    with app.app_context():
        alerts_service.raise_alert("x", "overdue", "Never delivered")
    far = utcnow() + timedelta(hours=1)
    send(app, far)
    send(app, far)
    send(app, far)
    assert slack.count == 2
    assert [action for action, _ in audit_actions(app)] == ["alert.raised", "alert.failed"]
    with app.app_context():
        assert alerts_service.status(db.session.scalars(select(AdminAlert)).one()) == "failed"


def test_without_channels_alerts_wait_on_the_dashboard(app):
    with app.app_context():
        alerts_service.raise_alert("x", "overdue", "Nobody to tell")
        assert alerts_service.send_pending_alerts() == []
        assert db.session.scalar(select(func.count()).select_from(AdminAlert).where(AdminAlert.attempts > 0)) == 0


def test_the_worker_task_is_registered(app):
    worker = Worker(app, handle_signals=False, echo=lambda text: None)
    assert "send-admin-alerts" in worker.tasks.names()


# -- dashboard ----------------------------------------------------------------------------------


def test_dashboard_lists_the_latest_alerts(tmp_path, slack):
    from tests.support.apps import AuthActions

    app = make_app(tmp_path, SLACK_WEBHOOK_URL=slack.url("/hook"))
    slack.script(500)
    with app.app_context():
        alerts_service.raise_alert("ceiling:window:9", "ceiling", "Window 9 <b>too long</b>")
        alerts_service.raise_alert("overdue:window:9:t", "overdue", "Window 9 is overdue")
        alerts_service.send_pending_alerts()
    client = app.test_client()
    AuthActions(client).login("admin")
    html = client.get("/admin").get_data(as_text=True)
    assert "Admin alerts" in html
    assert "Window 9 &lt;b&gt;too long&lt;/b&gt;" in html  # escaped
    assert "Window 9 is overdue" in html
    assert "failing, retrying" in html and "Slack answered 500" in html
    panel = client.get("/admin/panel").get_data(as_text=True)
    assert "Admin alerts" in panel


def test_dashboard_without_alerts(client, auth):
    auth.login("admin")
    html = client.get("/admin").get_data(as_text=True)
    assert "No alerts yet." in html and "No alert channel is configured" in html


def test_mail_circuit_open_event_raises_an_alert(app):
    if "mail.circuit_open" not in hooks.EVENTS:
        pytest.fail("app/hooks.py has no mail.circuit_open event")
    opened = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        hooks.emit("mail.circuit_open", None, name="sendgrid", opened_at=opened,
                   retry_at=opened + timedelta(minutes=5), error="SendGrid answered 503")
        hooks.emit("mail.circuit_open", None, name="sendgrid", opened_at=opened, error="again")
    (row,) = alerts(app)
    assert (row.cause, row.kind) == (f"circuit:sendgrid:{opened.isoformat()}", "circuit_open")
    assert "SendGrid answered 503" in row.summary
