"""Webhook subscribers (issue 14): admin-registered URLs receive the window notices, signed.

What a subscriber receives is checked with the provider's own library (`standardwebhooks`),
using the secret shown at registration, on a real local HTTP server.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app import hooks
from app.extensions import db
from app.maintenance.validation import validate_window
from app.maintenance.webhook_targets import url_problem
from app.models import AuditEntry, MaintenanceWindow, OutboundWebhook, WebhookSubscriber, utcnow
from app.services import maintenance as maintenance_service
from app.services import scheduling as scheduling_service
from app.services import subscriptions as subscription_service
from app.services import tokens as token_service
from app.services import webhooks as webhook_service
from tests.support.fake_http import FakeHTTPServer

URL = "/api/admin/webhook-subscribers"
ADMIN = Actor("cli:test")


@pytest.fixture
def bearer(app):
    with app.app_context():
        _, raw = token_service.create_token("deploy", ["admin"], ADMIN)
    return {"Authorization": f"Bearer {raw}"}


@pytest.fixture
def receiver():
    with FakeHTTPServer() as server:
        yield server


def register(client, bearer, url, **extra):
    response = client.post(URL, json={"url": url, **extra}, headers=bearer)
    assert response.status_code == 201, response.get_json()
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    return body["subscriber"]["id"], body["secret"]


def deliver(app, now=None):
    with app.app_context():
        return webhook_service.deliver_outbound(now=now, limit=100)


def lower(recorded) -> dict:
    return {name.lower(): value for name, value in recorded.headers.items()}


def verified(server, secret) -> list[dict]:
    """Every payload the server got, each verified by the official Standard Webhooks library."""
    return [Webhook(secret).verify(recorded.body, lower(recorded)) for recorded in server.requests]


def schedule(app, now, **fields):
    with app.app_context():
        data = validate_window({"message": "Database upgrade", **fields}, now)
        return scheduling_service.schedule_window(data, ADMIN, now).id


def emit(app, event, window_id, **details):
    with app.app_context():
        window = db.session.get(MaintenanceWindow, window_id)
        hooks.emit(event, window, **details)


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(WebhookSubscriber)),
            db.session.scalar(select(func.count()).where(AuditEntry.action.startswith("webhook_subscriber."))),
            db.session.scalar(select(func.count()).select_from(OutboundWebhook)),
        )


# -- what a subscriber receives --------------------------------------------------------------


def test_a_subscriber_receives_every_notice_kind_signed_with_the_secret_shown_at_registration(
    app, client, bearer, receiver,
):
    # No OUTBOUND_WEBHOOK_URLS/SECRET: a subscriber's notices need only its own secret.
    assert not app.config["OUTBOUND_WEBHOOK_SECRET"]
    _, secret = register(client, bearer, receiver.url("/pausa"), name="Status bot")
    assert secret.startswith("whsec_")
    now = utcnow()
    planned = schedule(app, now, starts_at=(now + timedelta(hours=3)).isoformat(), eta="1h")
    with app.app_context():
        changed = validate_window({"eta": "2h"}, now, partial=True)
        scheduling_service.update_scheduled_window(planned, changed, ADMIN, now)
    with app.app_context():  # the worker queues the reminder, with the email subscribers'
        subscription_service.queue_due_reminders(now + timedelta(hours=2, minutes=1))
        scheduling_service.cancel_window(planned, ADMIN, now + timedelta(hours=2, minutes=2))
    with app.app_context():
        started = maintenance_service.activate_window(validate_window({"eta": "30m"}, utcnow()), ADMIN).id
        maintenance_service.end_window(ADMIN)

    assert deliver(app, now + timedelta(hours=3)).sent == 6
    payloads = verified(receiver, secret)
    assert [(p["type"], p["data"]["id"]) for p in payloads] == [
        ("window.scheduled", planned), ("window.changed", planned), ("window.reminder", planned),
        ("window.cancelled", planned), ("window.started", started), ("window.ended", started),
    ]
    assert [p["data"]["notice"] for p in payloads] == [
        "scheduled", "changed", "reminder", "cancelled", "started", "ended",
    ]
    assert payloads[0]["data"]["message"] == "Database upgrade"
    assert payloads[1]["data"]["eta"] == (now + timedelta(hours=5)).isoformat()
    assert all(r.path == "/pausa" for r in receiver.requests)
    # A different secret (another subscriber's, a guess) does not verify these requests.
    with pytest.raises(WebhookVerificationError):
        verified(receiver, "whsec_" + "A" * 43 + "=")
    with app.app_context():
        subscriber = db.session.scalar(select(WebhookSubscriber))
        assert subscriber.last_status == 200 and subscriber.last_error is None


def test_each_notice_at_most_once_per_window_even_when_queued_twice(app, client, bearer, receiver):
    _, secret = register(client, bearer, receiver.url("/hook"))
    now = utcnow()
    planned = schedule(app, now, starts_at=(now + timedelta(hours=3)).isoformat())
    emit(app, "window.scheduled", planned, actor="cli:again")  # hooks queue nothing: the services do
    with app.app_context():
        window = db.session.get(MaintenanceWindow, planned)
        subscription_service.queue_notices(window, "scheduled", now)  # the same transition, queued twice
        db.session.commit()
        subscription_service.queue_due_reminders(now + timedelta(hours=2, minutes=1))
        subscription_service.queue_due_reminders(now + timedelta(hours=2, minutes=2))
        edit = validate_window({"eta": "1h"}, now, partial=True)
        window = scheduling_service.update_scheduled_window(planned, edit, ADMIN, now)
        subscription_service.queue_change_notices(window, ["eta"], now)  # the same change, queued twice
        db.session.commit()
    with app.app_context():  # a message-only edit is not a change of plans
        edit = validate_window({"message": "New words"}, now, partial=True)
        scheduling_service.update_scheduled_window(planned, edit, ADMIN, now)
    with app.app_context():  # a second change of the times is news again
        edit = validate_window({"eta": "2h"}, now, partial=True)
        scheduling_service.update_scheduled_window(planned, edit, ADMIN, now)

    deliver(app, now + timedelta(hours=3))
    assert deliver(app, now + timedelta(hours=3)).sent == 0  # nothing left over
    types = [p["type"] for p in verified(receiver, secret)]
    assert types == ["window.scheduled", "window.reminder", "window.changed", "window.changed"]
    etas = [p["data"]["eta"] for p in verified(receiver, secret) if p["type"] == "window.changed"]
    assert etas == [(now + timedelta(hours=4)).isoformat(), (now + timedelta(hours=5)).isoformat()]


def test_failed_deliveries_retry_with_back_off_and_the_same_webhook_id(app, client, bearer, receiver):
    app.config.update(WEBHOOK_MAX_ATTEMPTS=3)
    receiver.script(503, 200)
    _, secret = register(client, bearer, receiver.url("/hook"))
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)
    start = utcnow()
    assert deliver(app, start).retried == 1
    assert deliver(app, start + timedelta(seconds=1)).sent == 0  # backing off
    assert deliver(app, start + timedelta(seconds=30)).sent == 1
    assert len({lower(r)["webhook-id"] for r in receiver.requests}) == 1
    assert [p["type"] for p in verified(receiver, secret)] == ["window.started", "window.started"]


def test_disabled_subscribers_get_nothing_not_even_what_was_already_queued(app, client, bearer):
    with FakeHTTPServer() as kept, FakeHTTPServer() as dropped:
        _, kept_secret = register(client, bearer, kept.url("/kept"))
        dropped_id, _ = register(client, bearer, dropped.url("/dropped"))
        with app.app_context():
            maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)  # queued for both
        response = client.delete(f"{URL}/{dropped_id}", headers=bearer)
        assert response.status_code == 200 and response.get_json()["subscriber"]["active"] is False
        with app.app_context():
            maintenance_service.end_window(ADMIN)
        deliver(app)
        assert dropped.requests == []
        assert [p["type"] for p in verified(kept, kept_secret)] == ["window.started", "window.ended"]
    assert client.delete(f"{URL}/{dropped_id}", headers=bearer).status_code == 404
    with app.app_context():
        gone = db.session.get(WebhookSubscriber, dropped_id)
        assert gone.secret == ""  # erased: nothing can be signed for it any more


def test_a_rotated_secret_signs_what_follows_and_the_old_one_stops_verifying(app, client, bearer, receiver):
    subscriber_id, old = register(client, bearer, receiver.url("/hook"))
    response = client.post(f"{URL}/{subscriber_id}/rotate-secret", headers=bearer)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = response.get_json()["secret"]
    assert new.startswith("whsec_") and new != old
    with app.app_context():
        maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)
    deliver(app)
    assert [p["type"] for p in verified(receiver, new)] == ["window.started"]
    with pytest.raises(WebhookVerificationError):
        verified(receiver, old)


# -- registration: bad input, the secret shown once ------------------------------------------


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "http://example.com/hook"}, "url"),  # plain http only to this machine
    ({"url": "ftp://example.com/hook"}, "url"),
    ({"url": "https://user:pass@example.com/hook"}, "url"),
    ({"url": "https://token@example.com/hook"}, "url"),
    ({"url": "https://example.com/hook#part"}, "url"),
    ({"url": "https://example.com:99999/hook"}, "url"),
    ({"url": "https://exa mple.com/"}, "url"),
    ({"url": "https://example.com/" + "a" * 2000}, "url"),
    ({"url": ""}, "url"),
    ({}, "url"),
    ({"url": 7}, "url"),
    ({"url": "https://example.com/hook", "name": "n" * 81}, "name"),
    ({"url": "https://example.com/hook", "name": "bad\x00name"}, "name"),
    ({"url": "https://example.com/hook", "secret": "whsec_mine"}, "secret"),
])
def test_bad_registrations_are_400_with_fields_and_change_nothing(app, client, bearer, body, field):
    before = counts(app)
    response = client.post(URL, json=body, headers=bearer)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["error"] == "validation" and field in answer["fields"]
    assert counts(app) == before


def test_a_url_registered_twice_is_refused_and_not_a_json_object_is_400(app, client, bearer):
    register(client, bearer, "https://hooks.example.com/pausa")
    before = counts(app)
    again = client.post(URL, json={"url": "https://hooks.example.com/pausa"}, headers=bearer)
    assert again.status_code == 400 and "already registered" in again.get_json()["fields"]["url"]
    assert client.post(URL, data="url=x", headers=bearer).status_code == 400
    assert client.post(URL, json=["https://a.example"], headers=bearer).status_code == 400
    assert counts(app) == before


def test_plain_http_is_for_localhost_outside_production_only():
    assert url_problem("http://127.0.0.1:8080/hook", allow_local_http=True) is None
    assert url_problem("http://localhost/hook", allow_local_http=True) is None
    assert url_problem("http://10.0.0.5/hook", allow_local_http=True) == "local_http_only"
    assert url_problem("http://127.0.0.1:8080/hook", allow_local_http=False) == "scheme"
    assert url_problem("https://hooks.example.com/x?a=1", allow_local_http=False) is None


def test_the_secret_is_never_shown_again_in_the_list_the_audit_the_dashboard_or_the_cli(
    app, client, bearer, auth, runner,
):
    subscriber_id, secret = register(client, bearer, "https://hooks.example.com/pausa", name="Ops")
    rotated = client.post(f"{URL}/{subscriber_id}/rotate-secret", headers=bearer).get_json()["secret"]
    listed = client.get(URL, headers=bearer)
    assert listed.status_code == 200
    assert [s["name"] for s in listed.get_json()["subscribers"]] == ["Ops"]
    with app.app_context():
        trail = [json.dumps(e.chain_fields(), default=str) for e in db.session.scalars(select(AuditEntry))]
    assert any("webhook_subscriber.registered" in entry for entry in trail)
    assert any("webhook_subscriber.secret_rotated" in entry for entry in trail)
    cli = runner.invoke(args=["webhooks", "list"])
    assert cli.exit_code == 0 and "hooks.example.com" in cli.output
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "https://hooks.example.com/pausa" in dashboard
    for shown in (listed.get_data(as_text=True), *trail, cli.output, dashboard):
        assert secret not in shown and rotated not in shown
        assert secret.removeprefix("whsec_") not in shown


def test_only_admins_manage_subscribers(app, client, auth):
    with app.app_context():
        _, raw = token_service.create_token("smoke", ["bypass"], ADMIN)
    assert client.get(URL, headers={"Authorization": f"Bearer {raw}"}).status_code == 403
    assert client.post(URL, json={"url": "https://a.example"}).status_code == 401
    auth.login("developer")
    assert client.get(URL).status_code == 403
    assert client.post("/admin/webhook-subscribers", data={"url": "https://a.example"}).status_code >= 400
    assert counts(app)[0] == 0


# -- the dashboard and the CLI ---------------------------------------------------------------


def test_dashboard_registers_shows_the_secret_once_and_disables(app, client, auth, receiver):
    auth.login("admin")
    token = auth.csrf()
    refused = client.post("/admin/webhook-subscribers",
                          data={"url": "https://u:p@x.example", "name": "Billing", "csrf_token": token},
                          headers={"HX-Request": "true"})
    assert refused.status_code == 422
    assert "Leave user names and passwords out of the URL" in refused.get_data(as_text=True)
    kept = refused.get_data(as_text=True)  # what was typed stays in the form, to correct it
    assert 'value="https://u:p@x.example"' in kept and 'value="Billing"' in kept
    assert client.post("/admin/webhook-subscribers", data={"url": receiver.url("/x")}).status_code == 400  # CSRF
    answer = client.post("/admin/webhook-subscribers",
                         data={"url": receiver.url("/dash"), "name": "Dash", "csrf_token": token},
                         headers={"HX-Request": "true"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    page = answer.get_data(as_text=True)
    secret = page.split('id="webhook-subscriber-secret"')[1].split('value="')[1].split('"')[0]
    assert secret.startswith("whsec_") and "shown only once" in page
    assert secret not in client.get("/admin").get_data(as_text=True)
    with app.app_context():
        subscriber_id = db.session.scalar(select(WebhookSubscriber.id))
        maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)
    deliver(app)
    assert [p["type"] for p in verified(receiver, secret)] == ["window.started"]

    disabled = client.post(f"/admin/webhook-subscribers/{subscriber_id}/disable", data={"csrf_token": token},
                           headers={"HX-Request": "true"})
    assert disabled.status_code == 200 and "nothing more is sent to it" in disabled.get_data(as_text=True)
    with app.app_context():
        maintenance_service.end_window(ADMIN)
    deliver(app)
    assert len(receiver.requests) == 1


def test_cli_add_list_remove(app, runner, receiver):
    added = runner.invoke(args=["webhooks", "add", receiver.url("/cli"), "--name", "From the CLI"])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    assert secret.startswith("whsec_") and "not shown again" in added.stderr
    listed = runner.invoke(args=["webhooks", "list"])
    assert "From the CLI" in listed.output and "active" in listed.output and secret not in listed.output
    bad = runner.invoke(args=["webhooks", "add", "http://example.com/hook"])
    assert bad.exit_code == 2 and "only for localhost" in bad.stderr
    with app.app_context():
        subscriber_id = db.session.scalar(select(WebhookSubscriber.id))
        maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)
    deliver(app)
    assert [p["type"] for p in verified(receiver, secret)] == ["window.started"]
    removed = runner.invoke(args=["webhooks", "remove", str(subscriber_id)])
    assert removed.exit_code == 0 and "removed" in removed.output
    assert "disabled" in runner.invoke(args=["webhooks", "list"]).output
    assert runner.invoke(args=["webhooks", "remove", str(subscriber_id)]).exit_code == 1
    with app.app_context():
        maintenance_service.end_window(ADMIN)
    deliver(app)
    assert len(receiver.requests) == 1


def test_a_redirect_is_never_followed_so_the_signed_post_cannot_be_sent_elsewhere(app, client, bearer, receiver):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            self.send_response(302)  # urllib would follow it, as a GET
            self.send_header("Location", receiver.url("/internal"))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    redirector = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    try:
        register(client, bearer, f"http://127.0.0.1:{redirector.server_address[1]}/hook")
        with app.app_context():
            maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN)
        report = deliver(app, utcnow())
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert receiver.requests == []  # the other address never got the signed payload
    assert report.sent == 0 and report.retried == 1  # a 3xx is a failed attempt


def test_notices_are_queued_with_the_change_itself_not_by_hooks_that_may_never_run(app, client, bearer):
    # A process that dies right after the commit never runs its hooks: the notice must not depend on them.
    register(client, bearer, "https://hooks.example.com/pausa")
    events = ("window.scheduled", "window.updated", "window.cancelled", "window.reminder",
              "window.started", "window.ended")
    removed = {event: hooks.handlers(event) for event in events}
    for event, handlers in removed.items():
        for handler in handlers:
            hooks.off(event, handler)
    try:
        now = utcnow()
        planned = schedule(app, now, starts_at=(now + timedelta(hours=3)).isoformat())
        with app.app_context():
            edit = validate_window({"eta": "1h"}, now, partial=True)
            scheduling_service.update_scheduled_window(planned, edit, ADMIN, now)
            subscription_service.queue_due_reminders(now + timedelta(hours=2, minutes=1))
            scheduling_service.cancel_window(planned, ADMIN, now + timedelta(hours=2, minutes=2))
            started = maintenance_service.activate_window(validate_window({}, utcnow()), ADMIN).id
            maintenance_service.end_window(ADMIN)
            rows = db.session.execute(
                select(OutboundWebhook.window_id, OutboundWebhook.event_type).order_by(OutboundWebhook.id)
            ).all()
        assert [tuple(row) for row in rows] == [
            (planned, "window.scheduled"), (planned, "window.changed"), (planned, "window.reminder"),
            (planned, "window.cancelled"), (started, "window.started"), (started, "window.ended"),
        ]
        with app.app_context():  # a change that is rolled back queues nothing
            window = db.session.get(MaintenanceWindow, planned)
            subscription_service.queue_notices(window, "late", utcnow())
            db.session.rollback()
            assert db.session.scalar(select(func.count()).select_from(OutboundWebhook)) == len(rows)
    finally:
        for event, handlers in removed.items():
            for handler in handlers:
                hooks.on(event, handler)
