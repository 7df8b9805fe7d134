"""The dashboard's house rule: views pass each card its data; no template queries on its own."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from flask import before_render_template, template_rendered
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import event

from app.extensions import db
from app.maintenance.validation import validate_window
from app.services import bypass as bypass_service
from app.services import recurrences as recurrence_service
from app.services import scheduling as scheduling_service
from app.services import tokens as token_service
from app.services import webhook_subscribers as subscriber_service

# The template globals that used to fetch a card's data from inside the template.
QUERYING_GLOBALS = (
    "health_report", "bypass_panel", "schedule_panel", "subscribers_panel", "alerts_panel",
    "delivery_progress", "webhooks_panel", "webhook_subscribers_panel", "recurrences_panel",
    "tokens_panel", "notices_panel", "standing_endpoint",
)
HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}
ACTOR = Actor("cli:test")
# A row the view read, read again by its id: the services end their transactions (commit), which
# expires the rows read before. That is SQLAlchemy refreshing, not a template fetching data.
RELOAD = re.compile(r"SELECT .* FROM (\w+) WHERE \1\.id = \S+")


def test_no_template_global_or_filter_fetches_a_panel(app):
    names = set(app.jinja_env.globals) | set(app.jinja_env.filters)
    assert not names & set(QUERYING_GLOBALS)
    assert not [name for name in names if name.endswith("_panel")]


@contextmanager
def queries_while_rendering(app):
    """Collect the SQL sent while a template renders (between Flask's two render signals)."""
    rendering: list[str] = []
    seen: list[str] = []

    def started(sender, template, context, **extra):
        rendering.append(template.name)

    def finished(sender, template, context, **extra):
        rendering.pop()

    def statement(conn, cursor, sql, parameters, context, executemany):
        sql = " ".join(sql.split())
        if rendering and not RELOAD.fullmatch(sql):
            seen.append(f"{rendering[-1]}: {sql}")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", statement)
    before_render_template.connect(started, app)
    template_rendered.connect(finished, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(finished, app)
        before_render_template.disconnect(started, app)
        event.remove(engine, "before_cursor_execute", statement)


@pytest.fixture
def busy_dashboard(app, auth, activate):
    """An admin signed in, and something on every card: windows, a link, a token, subscribers."""
    auth.login("admin")
    window_id = activate(message="Upgrading", eta="2h", ends_at="3h")
    with app.app_context():
        planned = validate_window({"starts_at": "3d", "eta": "1h", "ends_at": "1h", "message": "Later"}, utcnow())
        scheduling_service.schedule_window(planned, ACTOR)
        bypass_service.create_link(ACTOR, "1h", window_id)
        token_service.create_token("deploy", ["admin"], ACTOR, "90d")
        subscriber_service.register({"url": "https://hooks.example.com/pausa", "name": "ops"}, ACTOR)
        recurrence_service.create_recurrence({
            "frequency": "weekly", "weekday": "SU", "start": "02:00", "end": "03:00",
            "time_zone": "UTC", "message": "Weekly upkeep",
        }, ACTOR)


@pytest.mark.parametrize("path, headers", [
    ("/admin", {}),
    ("/admin/panel", HX),
    ("/admin/status-card", HX),
    ("/admin/health-panel", HX),
    ("/admin/deliveries", HX),
    ("/admin/windows/new", {}),
    ("/status", {}),
])
def test_templates_render_without_a_query(app, client, busy_dashboard, path, headers):
    with queries_while_rendering(app) as seen:
        response = client.get(path, headers=headers)
    assert response.status_code == 200
    assert seen == []
