"""Production never starts half-configured, and refused webhooks are counted where an admin looks.

See docs/production.md: what production requires, what refuses to start, what /health/ready and the
dashboard show.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pausa_gate.state import Actor
from sqlalchemy import func, select

from app import mail
from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import Delivery, Subscriber, WebhookEvent, WebhookRejection
from app.services import maintenance as maintenance_service
from app.services import webhook_rejections
from tests.app.test_webhooks import standard_request, stripe_event, stripe_headers
from tests.support.apps import AuthActions, make_app

ROOT = Path(__file__).resolve().parents[2]
OUTBOUND_SECRET = "whsec_" + base64.b64encode(b"outbound-signing-key-0123456789").decode()


def production(tmp_path, **overrides):
    """A production app (Secure cookies and all) on the test database, with `overrides`."""
    return make_app(tmp_path, ENVIRONMENT="production", **overrides)


# -- refusing to start -------------------------------------------------------------------------------


def test_production_with_mail_backend_unset_refuses_to_start_from_the_real_environment(tmp_path):
    """PAUSA_ENV=production, a secret, no MAIL_BACKEND and no SENDGRID_API_KEY: the console default is refused."""
    env = {
        key: value for key, value in os.environ.items()
        if key not in ("MAIL_BACKEND", "SENDGRID_API_KEY", "PROMETHEUS_MULTIPROC_DIR")
    }
    env.update(PAUSA_ENV="production", SECRET_KEY="s" * 32, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}")
    result = subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app()"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "RuntimeError: MAIL_BACKEND=console is refused when PAUSA_ENV=production" in result.stderr
    assert "SENDGRID_API_KEY" in result.stderr and "MAIL_BACKEND=disabled" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"MAIL_BACKEND": "console"}, "MAIL_BACKEND=console"),
        ({"MAIL_BACKEND": "memory"}, "MAIL_BACKEND=memory"),
        ({"MAIL_BACKEND": "sendgrid", "SENDGRID_API_KEY": None}, "SENDGRID_API_KEY"),
        ({"MAIL_BACKEND": "disabled", "ADMIN_ALERT_EMAILS": ("ops@example.com",)}, "ADMIN_ALERT_EMAILS"),
        ({"MAIL_BACKEND": "disabled", "OUTBOUND_WEBHOOK_URLS": ("https://status.example.com/hook",),
          "OUTBOUND_WEBHOOK_SECRET": None}, "OUTBOUND_WEBHOOK_SECRET"),
        ({"MAIL_BACKEND": "disabled", "OUTBOUND_WEBHOOK_URLS": ("https://status.example.com/hook",),
          "OUTBOUND_WEBHOOK_SECRET": "not base64!"}, "OUTBOUND_WEBHOOK_SECRET"),
        ({"MAIL_BACKEND": "disabled", "STANDARD_WEBHOOK_SECRETS": ("whsec_!!",)}, "STANDARD_WEBHOOK_SECRETS"),
    ],
)
def test_production_refuses_each_half_configured_feature_naming_the_setting(tmp_path, overrides, named):
    with pytest.raises(RuntimeError, match=named):
        production(tmp_path, **overrides)


def test_an_unknown_mail_backend_is_refused_everywhere(tmp_path):
    with pytest.raises(RuntimeError, match="MAIL_BACKEND='smtp' is unknown"):
        make_app(tmp_path, MAIL_BACKEND="smtp")


def test_production_starts_with_sendgrid_or_with_email_explicitly_disabled(tmp_path):
    production(tmp_path / "a", MAIL_BACKEND="sendgrid", SENDGRID_API_KEY="SG.key")
    production(tmp_path / "b", MAIL_BACKEND="disabled", OUTBOUND_WEBHOOK_URLS=("https://s.example.com",),
               OUTBOUND_WEBHOOK_SECRET=OUTBOUND_SECRET)


# -- email disabled: said, not pretended ---------------------------------------------------------------


def test_email_disabled_offers_no_form_refuses_subscriptions_queues_nothing_and_says_so(tmp_path):
    app = production(tmp_path, MAIL_BACKEND="disabled", SESSION_COOKIE_SECURE=False)
    with app.app_context():
        window = maintenance_service.activate_window(validate_window({}, datetime.now(UTC)), Actor("cli:t"))
        window_id = window.id
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert 'id="subscribe"' not in page.get_data(as_text=True)
    answer = client.post("/maintenance/subscribe", data={"email": "ana@example.com"})
    assert answer.status_code == 404
    assert "Email notifications are switched off" in answer.get_data(as_text=True)
    with app.app_context():
        maintenance_service.end_window(Actor("cli:t"))
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 0
        assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0
        assert db.session.get(type(window), window_id).ended_at is not None
    ready = client.get("/health/ready").json
    assert ready["checks"]["mail"] == {
        "ok": True, "critical": False, "backend": "disabled", "sends_email": False, "subscriptions": False,
    }
    auth = AuthActions(client)
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "email disabled" in dashboard and "MAIL_BACKEND=disabled" in dashboard


def test_the_console_backend_never_logs_a_full_address(app, caplog):
    app.config["MAIL_BACKEND"] = "console"
    caplog.set_level(logging.INFO, logger="pausa.mail")
    with app.app_context(), app.test_request_context():
        message = mail.Message("en", "Back", "Hi -pausa_unsubscribe_text-", "<p>Hi</p>", [
            mail.Recipient("ana.maria@example.com", "https://x/u/1"),
        ])
        mail.send(message)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "email to a***@e***.com" in logged
    assert "ana.maria" not in logged and "example.com" not in logged


# -- webhook receivers without secrets -----------------------------------------------------------------


def test_receivers_without_secrets_answer_503_not_configured_and_store_nothing(tmp_path):
    app = make_app(tmp_path, STRIPE_WEBHOOK_SECRETS=(), STANDARD_WEBHOOK_SECRETS=())
    client = app.test_client()
    body = stripe_event("evt_unconfigured")
    stripe = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body))
    assert stripe.status_code == 503 and stripe.json["error"] == "not_configured"
    assert "STRIPE_WEBHOOK_SECRETS" in stripe.json["message"]
    standard = client.post("/webhooks/standard", data=b"{}", headers=standard_request(b"{}"))
    assert standard.status_code == 503 and "STANDARD_WEBHOOK_SECRETS" in standard.json["message"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEvent)) == 0
    webhooks = client.get("/health/ready").json["checks"]["webhooks"]
    assert webhooks["receivers"] == {"stripe": False, "standard": False}
    assert webhooks["rejected_last_hour"]["by_reason"] == {"not_configured": 2}
    auth = AuthActions(client)
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "/webhooks/stripe</code>: not configured (answers 503)" in dashboard


# -- rejected timestamps: counted, logged sparingly, on the dashboard ------------------------------------


def metric(client, provider: str, reason: str) -> float:
    wanted = f'pausa_webhook_rejections_total{{provider="{provider}",reason="{reason}"}}'
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith(wanted):
            return float(line.split()[-1])
    return 0.0


def test_a_skewed_clock_rejecting_every_event_shows_on_metrics_health_dashboard_and_the_log(app, client,
                                                                                            caplog):
    caplog.set_level(logging.WARNING, logger="pausa.webhooks")
    behind = int(time.time()) - 900  # the senders' clocks look 15 minutes behind ours
    for n in range(12):
        body = stripe_event(f"evt_skew_{n}")
        response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body, at=behind))
        assert response.status_code == 400
    body = b'{"type": "x"}'
    ahead = client.post("/webhooks/standard", data=body,
                        headers=standard_request(body, at=datetime.now(UTC) + timedelta(minutes=10)))
    assert ahead.status_code == 400
    forged = client.post("/webhooks/stripe", data=stripe_event(), headers=stripe_headers(stripe_event(),
                                                                                           secret="whsec_x"))
    assert forged.status_code == 400
    assert metric(client, "stripe", "stale_timestamp") == 12
    assert metric(client, "standard", "future_timestamp") == 1
    assert metric(client, "stripe", "signature") == 1
    # Logged, but not once per request: the first of each kind, then a summary a minute later at most.
    lines = [r.getMessage() for r in caplog.records if r.name == "pausa.webhooks"]
    stale_lines = [line for line in lines if "stale_timestamp" in line]
    assert len(stale_lines) == 1 and re.search(r"clock is \+90[01] s", stale_lines[0])
    ready = client.get("/health/ready").json["checks"]["webhooks"]
    assert ready["ok"] is False
    assert ready["rejected_last_hour"]["timestamp"] == 13
    auth = AuthActions(client)
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "13 events rejected for their timestamp in the last hour — check the server clock." in dashboard
    assert re.search(r"about -(599|600) s", dashboard)  # the newest measured skew (the sender 10 min ahead)


def test_rejections_are_written_in_batches_not_once_per_request(app):
    """A flood costs one write per FLUSH_SECONDS per process; the pending ones still show meanwhile."""
    ticks = [1000.0]
    tracker = webhook_rejections.RejectionTracker(clock=lambda: ticks[0])
    now = datetime.now(UTC)
    with app.app_context():
        for _ in range(500):
            webhook_rejections.record(tracker, "stripe", "stale_timestamp", 400.0, "stale", now)
        assert db.session.scalar(select(func.sum(WebhookRejection.count))) == 1  # the first, at once
        assert webhook_rejections.recent(tracker, now)["timestamp"] == 500  # pending ones included
        ticks[0] += webhook_rejections.FLUSH_SECONDS
        webhook_rejections.record(tracker, "stripe", "stale_timestamp", 400.0, "stale", now)
        assert db.session.scalar(select(func.sum(WebhookRejection.count))) == 501
        assert webhook_rejections.recent(None, now + timedelta(hours=2))["total"] == 0  # only the last hour


def test_log_lines_are_limited_and_carry_the_suppressed_count(caplog):
    caplog.set_level(logging.WARNING, logger="pausa.webhooks")
    ticks = [0.0]
    tracker = webhook_rejections.RejectionTracker(clock=lambda: ticks[0])
    now = datetime.now(UTC)
    for _ in range(100):
        tracker.note("stripe", "signature", None, "no signature matches", now)
    ticks[0] += webhook_rejections.LOG_EVERY_SECONDS
    tracker.note("stripe", "signature", None, "no signature matches", now)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "99 more like it" in lines[1]


def test_the_json_body_of_a_rejection_is_unchanged(client):
    body = stripe_event()
    response = client.post("/webhooks/stripe", data=body, headers=stripe_headers(body, at=1))
    assert json.loads(response.data) == {"error": "signature", "message": "timestamp outside the tolerance"}
