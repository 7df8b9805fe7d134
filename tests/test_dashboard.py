"""The admin dashboard's htmx forms: activate, update, end, errors in place."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import AuditEntry, MaintenanceWindow

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
    assert 'hx-trigger="every 5s"' in html


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
    from datetime import timedelta

    from pausa_gate.windows import utcnow

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
