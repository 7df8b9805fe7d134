"""The pages admins meet: the dashboard in every state and with rows in every card, its forms with
their errors, audit, analytics, and the set-password page, collected for test_markup.py to validate.

No test here: test_markup.py sends these pages to the Nu HTML Checker with the other tours'.
"""

from __future__ import annotations

from datetime import timedelta

from pausa_gate.windows import utcnow

from app.extensions import db
from app.models import User
from app.services import alerts as alerts_service
from app.services import bypass as bypass_service
from app.services import password_links, subscriptions, webhook_inbox
from app.services import recurrences as recurrence_service
from app.services import tokens as token_service
from app.services import webhook_subscribers as subscriber_service
from tests.support.apps import PASSWORD, AuthActions, csrf_from, schedule_in

from .test_markup_visitors import CLI, HX, Tour, activate, cancel, end, make_overdue

ADMIN_HX = {**HX, "HX-Current-URL": "http://localhost/admin"}
# The admin tour changes the state more often than a person would in a minute.
LIMITS = {"STATE_CHANGE_RATE_LIMIT": "1000 per minute"}


def signed_in(app):
    """A client signed in as an admin, and its CSRF token."""
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("admin")
    return client, auth.csrf()


def window_form(token: str, **fields) -> dict:
    return {"csrf_token": token, "roles_present": "1", "reason": "other", "mode": "full", **fields}


def dashboard_states(tour: Tour, app) -> None:
    """The dashboard and its status card: idle, announced (soon and days ahead), draining, on with an
    ETA, overdue, on without one; each state set up and then cleared, on the same app."""
    client, _ = signed_in(app)

    def visit(state: str) -> None:
        tour.page(f"dashboard, {state}", client.get("/admin"))
        tour.fragment(f"dashboard, {state}: status card (htmx)", client.get("/admin/status-card", headers=ADMIN_HX))
        tour.fragment(f"dashboard, {state}: panel (htmx)", client.get("/admin/panel", headers=ADMIN_HX))

    visit("idle")
    for state, starts_in, fields in (
        ("announced, days ahead", timedelta(days=3), {}),
        ("announced", timedelta(minutes=19), {"eta_in": timedelta(minutes=79)}),
        ("draining", timedelta(minutes=10), {"eta_in": timedelta(minutes=40), "drain_minutes": "15"}),
    ):
        window_id = schedule_in(app, starts_in, **fields)
        visit(state)
        cancel(app, window_id)
    activate(app, message="Deploying", eta="30m", ends_at="2h")
    visit("on, with an ETA")
    make_overdue(app)
    visit("on, overdue")
    end(app)
    activate(app, reason="incident")
    visit("on, without an ETA")
    end(app)


def busy(app):
    """Give every card a row: past, cancelled, planned and active windows, links, tokens, events..."""
    now = utcnow()
    planned = schedule_in(app, timedelta(hours=3), eta_in=timedelta(hours=4), drain_minutes="5",
                       ends_at=(now + timedelta(hours=5)).isoformat())
    cancel(app, schedule_in(app, timedelta(hours=6), ends_at=(now + timedelta(hours=7)).isoformat()))
    with app.app_context():
        recurrence_service.create_recurrence(
            {"frequency": "weekly", "weekday": "SU", "start": "02:00", "end": "04:00",
             "time_zone": "America/Sao_Paulo", "message": "Weekly upkeep", "reason": "database",
             "notice_minutes": 60}, CLI, now)
    active = activate(app, message="Deploying v2", reason="deployment", eta="30m", ends_at="2h",
                      pause_webhook_processing=True)
    with app.app_context():
        bypass_service.create_link(CLI, "1h", active)
        subscriptions.subscribe(active, "ana@example.com", "en")
        subscriptions.subscribe_standing("bo@example.com", "pt_BR")
        token_service.create_token("deploy-bot", ["admin"], CLI)
        token_service.create_token("gate", ["gate"], CLI, expires="30d")
        token_service.rotate_token("deploy-bot", CLI, grace="1h")
        subscriber_service.register({"url": "https://hooks.example.com/pausa", "name": "Status bot"}, CLI)
        webhook_inbox.ingest("stripe", "evt_1", "payment_intent.succeeded", b'{"id": "evt_1"}')
        alerts_service.raise_alert("overdue:window:1:x", "overdue", "Window 1 is overdue")
    return planned


def admin_tour(folder) -> Tour:
    """Every admin page and fragment on the busy app, and each form sent back with its errors."""
    tour = Tour()
    app = tour.app(folder, **LIMITS)
    dashboard_states(tour, app)
    _set_password(tour, app)
    idle_forms(tour, app)
    planned = busy(app)
    client, token = signed_in(app)
    tour.page("dashboard, busy", client.get("/admin"))
    for path in ("/admin/panel", "/admin/status-card", "/admin/health-panel", "/admin/deliveries"):
        tour.fragment(f"{path} (htmx)", client.get(path, headers=ADMIN_HX))
    for path in ("/admin/status-card", "/admin/health-panel", "/admin/deliveries"):
        tour.page(f"{path} (no htmx)", client.get(path))
    bad = window_form(token, eta="not a time", ends_at="yesterday", allowed_ips="999.1.1.1")
    tour.page("update, bad input", client.post("/admin/maintenance/update", data=bad), 422)
    tour.fragment("update, bad input (htmx)", client.post("/admin/maintenance/update", data=bad, headers=ADMIN_HX),
                  422)
    preview = {"csrf_token": token, "message": "Back soon", "reason": "database", "eta": "45m"}
    tour.fragment("preview (htmx)", client.post("/admin/preview", data=preview, headers=ADMIN_HX))
    # The schedule form: new, edit, and sent back with errors.
    tour.page("/admin/windows/new", client.get("/admin/windows/new"))
    tour.fragment("/admin/windows/new (htmx)", client.get("/admin/windows/new", headers=ADMIN_HX))
    tour.page("edit a planned window", client.get(f"/admin/windows/{planned}/edit"))
    tour.fragment("edit a planned window (htmx)", client.get(f"/admin/windows/{planned}/edit", headers=ADMIN_HX))
    bad = window_form(token, starts_at="not a time", notice_minutes="-4", drain_minutes="x")
    tour.page("schedule, bad input", client.post("/admin/windows", data=bad), 422)
    tour.fragment("schedule, bad input (htmx)", client.post("/admin/windows", data=bad, headers=ADMIN_HX), 422)
    recurrence = {"csrf_token": token, "frequency": "weekly", "weekday": "XX", "start": "25:00", "end": "04:00",
                  "time_zone": "Mars/Base", "notice_minutes": "soon", "drain_minutes": "x"}
    tour.page("recurrence, bad input", client.post("/admin/recurrences", data=recurrence), 422)
    tour.fragment("recurrence, bad input (htmx)", client.post("/admin/recurrences", data=recurrence, headers=ADMIN_HX),
                  422)
    _secrets_and_refusals(tour, client, token)
    _audit_and_analytics(tour, client)
    return tour


def _secrets_and_refusals(tour: Tour, client, token: str) -> None:
    """The cards that show a new secret once, and the same forms refused with their errors."""
    sent = {
        "bypass link": ("/admin/bypass-links", {"expires": "1h"}, {"expires": "forever"}),
        "token": ("/admin/tokens", {"name": "ci", "scopes": ["gate"], "expires": "30d"},
                  {"name": "no spaces allowed", "scopes": ["nope"], "expires": "soon"}),
        "webhook subscriber": ("/admin/webhook-subscribers", {"url": "https://hooks.example.com/two"},
                               {"url": "not a url", "name": "x" * 300}),
    }
    for name, (path, good, bad) in sent.items():
        tour.fragment(f"{name}, new secret (htmx)", client.post(path, data={"csrf_token": token, **good},
                                                                headers=ADMIN_HX))
        refused = client.post(path, data={"csrf_token": token, **bad}, headers=ADMIN_HX)
        tour.fragment(f"{name}, refused (htmx)", refused, refused.status_code if refused.status_code >= 400 else 422)
    tour.page("webhook subscriber, bad input (no htmx)",
              client.post("/admin/webhook-subscribers", data={"csrf_token": token, "url": "not a url"}), 422)


def idle_forms(tour: Tour, app) -> None:
    """The activate form sent back with its errors, while nothing is on."""
    client, token = signed_in(app)
    bad = window_form(token, eta="never", scope_paths="no-slash")
    tour.page("activate, bad input", client.post("/admin/maintenance/activate", data=bad), 422)
    tour.fragment("activate, bad input (htmx)",
                  client.post("/admin/maintenance/activate", data=bad, headers=ADMIN_HX), 422)


def _audit_and_analytics(tour: Tour, client) -> None:
    tour.page("/admin/audit", client.get("/admin/audit"))
    tour.page("/admin/audit, filtered", client.get("/admin/audit?action=maintenance.activated&since=2020-01-01"))
    tour.fragment("/admin/audit (htmx)", client.get("/admin/audit?actor=cli", headers=ADMIN_HX))
    tour.page("/admin/audit, bad filter", client.get("/admin/audit?since=soon"), 400)
    tour.fragment("/admin/audit, bad filter (htmx)", client.get("/admin/audit?since=soon", headers=ADMIN_HX), 400)
    tour.page("/admin/audit/verify", client.get("/admin/audit/verify"))
    tour.fragment("/admin/audit/verify (htmx)", client.get("/admin/audit/verify", headers=ADMIN_HX))
    tour.page("/admin/analytics", client.get("/admin/analytics"))
    since = (utcnow() - timedelta(days=800)).date().isoformat()
    tour.page("/admin/analytics, two years", client.get(f"/admin/analytics?since={since}"))
    tour.page("/admin/analytics, bad period", client.get("/admin/analytics?since=2026-02-01&until=2026-01-01"), 400)


def _set_password(tour: Tour, app) -> None:
    """The one-time link's page: the form, its errors, a forged link and a used one."""
    with app.app_context():
        user = db.session.query(User).filter_by(email="qa@example.com").one()
        path = password_links.link_url(password_links.make_token(user))
    client = app.test_client()
    token = csrf_from(tour.page("set password", client.get(path)))
    short = {"password": "short", "password_confirmation": "x", "csrf_token": token}
    html = tour.page("set password, too short", client.post(path, data=short), 400)
    assert "at least" in html, "the form's own error, not the CSRF page"
    tour.page("set password, forged link", client.get("/auth/set-password/forged"), 400)
    new = PASSWORD + " again"
    chosen = {"password": new, "password_confirmation": new, "csrf_token": token}
    assert client.post(path, data=chosen).status_code == 302
    tour.page("set password, used link", app.test_client().get(path), 410)
