"""The pages visitors meet, in every state of maintenance, collected for test_markup.py to validate.

No test here: test_markup.py sends these pages and the other tours' to the Nu HTML Checker in one go,
and checks that every GET endpoint that answers HTML was visited.
"""

from __future__ import annotations

import re
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select
from werkzeug.exceptions import NotFound

from app.extensions import db
from app.maintenance.validation import validate_window
from app.models import MaintenanceWindow, StandingSubscriber
from app.services import bypass as bypass_service
from app.services import maintenance as maintenance_service
from app.services import scheduling as scheduling_service
from app.services import state as state_service
from app.services import subscriptions
from tests.support.apps import AuthActions, csrf_from, make_app, schedule_in
from tests.support.vnu import fragment_document

HX = {"HX-Request": "true"}
LANGUAGES = {"en": "en", "pt-BR": "pt-BR"}  # Accept-Language → the page's <html lang>
CLI = Actor("cli:markup")


@dataclass
class Tour:
    """The documents seen on a walk through an app, and the endpoints that answered them."""

    documents: dict[str, str] = field(default_factory=dict)
    endpoints: set[str] = field(default_factory=set)
    url_map: Any = None

    def app(self, folder, **overrides):
        """A fresh app on its own database; its rules name the endpoint of each page kept."""
        # A tour posts the same forms many times: only the rate-limit tour meets the limits.
        limits = {"SUBSCRIBE_RATE_LIMIT": "1000 per minute", "LOGIN_RATE_LIMIT": "1000 per minute"}
        app = make_app(folder, **{**limits, **overrides})
        self.url_map = app.url_map
        return app

    def page(self, name: str, response, status: int = 200) -> str:
        """Keep a whole page: it must be HTML, with the status the state should give."""
        html = self._checked(name, response, status)
        self.documents[name] = html
        return html

    def fragment(self, name: str, response, status: int = 200, parent: str = "", language: str = "en") -> str:
        """Keep an htmx fragment, inside `parent` (e.g. "table") when its root cannot live in <body>."""
        html = self._checked(name, response, status)
        inner = f"<{parent}>{html}</{parent}>" if parent else html
        self.documents[name] = fragment_document(inner, language)
        return html

    def _checked(self, name: str, response, status: int) -> str:
        html = response.get_data(as_text=True)
        assert response.status_code == status, f"{name}: {response.status_code}\n{html[:2000]}"
        assert response.mimetype == "text/html", f"{name}: {response.mimetype}"
        request = response.request
        if request.method == "GET":
            with suppress(NotFound):  # the 404 page answers for no endpoint
                self.endpoints.add(self.url_map.bind("localhost").match(request.path, method="GET")[0])
        return html

    def merge(self, other: Tour) -> None:
        self.documents.update(other.documents)
        self.endpoints |= other.endpoints


def activate(app, **fields) -> int:
    with app.app_context():
        return maintenance_service.activate_window(validate_window(fields, utcnow()), CLI).id


def make_overdue(app) -> None:
    """Move the ETA of the window in effect into the past, as time would."""
    with app.app_context():
        window = db.session.query(MaintenanceWindow).filter_by(status="active").one()
        window.eta = utcnow() - timedelta(minutes=3)
        state_service.bump_version()
        db.session.commit()


def visit_public(tour: Tour, client, state: str, status: int = 200) -> None:
    """The pages anyone sees in one state of maintenance, in both languages."""
    for accept, lang in LANGUAGES.items():
        language = {"Accept-Language": accept}
        key = f"{state} {accept}"
        tour.page(f"{key} /", client.get("/", headers=language), status)
        tour.page(f"{key} /maintenance", client.get("/maintenance", headers=language))
        tour.page(f"{key} /_pausa", client.get("/_pausa", headers=language))
        tour.page(f"{key} /maintenance/status (no htmx)", client.get("/maintenance/status", headers=language))
        for path in ("/maintenance/status", "/_pausa/status"):
            tour.fragment(f"{key} {path} (htmx)", client.get(path, headers={**language, **HX}), language=lang)
        for path in ("/maintenance/banner", "/_pausa/banner"):
            banner = client.get(path, headers={**language, **HX, "HX-Current-URL": "http://localhost/maintenance"})
            tour.fragment(f"{key} {path} (htmx)", banner, language=lang)
        tour.page(f"{key} /status", client.get("/status", headers=language))
        tour.page(f"{key} /_pausa/status/", client.get("/_pausa/status/", headers=language))
        # The subscribe form's own page (the no-JavaScript path), in every state and under both mounts.
        for prefix in ("/maintenance", "/_pausa"):
            tour.page(f"{key} {prefix}/subscribe", client.get(f"{prefix}/subscribe", headers=language))


def visitor_tour(folder) -> Tour:
    """One app walked through every state a visitor meets: idle, announced, draining, on, overdue, on
    without an ETA (one app, so its templates are compiled once)."""
    tour = Tour()
    app = tour.app(folder)
    client = app.test_client()
    visit_public(tour, client, "idle")
    _errors_and_forms(tour, client)
    _standing_links(tour, app, client)
    _viewer_pages(tour, app)
    announced = schedule_in(app, timedelta(minutes=19), eta_in=timedelta(minutes=79))
    visit_public(tour, client, "announced")
    cancel(app, announced)
    draining = schedule_in(app, timedelta(minutes=10), eta_in=timedelta(minutes=40), drain_minutes="15")
    visit_public(tour, client, "draining")
    _paused_writes(tour, app)
    cancel(app, draining)
    for state in ("eta", "overdue", "no eta"):
        if state != "overdue":
            window_id = activate(app, message="Deploying v2", reason="deployment",
                                 **({} if state == "no eta" else {"eta": "30m"}))
        else:
            make_overdue(app)
        visit_public(tour, client, f"active, {state}", status=503)
        _blocked_answers(tour, app, client, state)
        if state == "eta":
            _while_active(tour, app, client, window_id)
        if state != "eta":
            end(app)
    return tour


def cancel(app, window_id: int) -> None:
    with app.app_context():
        scheduling_service.cancel_window(window_id, CLI)


def end(app) -> None:
    with app.app_context():
        maintenance_service.end_window(CLI)


def _errors_and_forms(tour: Tour, client) -> None:
    """The error pages, the login form, and the status page's subscribe form, each with its errors."""
    for accept, lang in LANGUAGES.items():
        language = {"Accept-Language": accept}
        tour.page(f"{accept} 404", client.get("/no-such-page", headers=language), 404)
        tour.page(f"{accept} 405", client.post("/status", headers=language), 405)
        tour.page(f"{accept} /auth/login", client.get("/auth/login", headers=language))
        wrong = AuthActions(client).login("admin", password="not the password")
        tour.page(f"{accept} login, wrong password", wrong, 401)
        tour.page(f"{accept} bypass, unknown link", client.get("/bypass/nope", headers=language), 404)
        tour.page(f"{accept} /_pausa bypass, unknown link", client.get("/_pausa/bypass/nope", headers=language), 404)
        for prefix in ("/status", "/_pausa/status"):
            key = f"{accept} {prefix}/subscribe"
            bad = {"email": "not an address"}
            tour.page(f"{key}, bad address", client.post(f"{prefix}/subscribe", data=bad, headers=language), 422)
            bad = client.post(f"{prefix}/subscribe", data=bad, headers={**language, **HX})
            tour.fragment(f"{key}, bad address (htmx)", bad, 422, language=lang)
            address = {"email": f"{prefix.strip('/').replace('/', '.')}@example.com"}  # one address per mount
            tour.page(key, client.post(f"{prefix}/subscribe", data=address, headers=language))
            good = client.post(f"{prefix}/subscribe", data=address, headers={**language, **HX})
            tour.fragment(f"{key} (htmx)", good, language=lang)


def _standing_links(tour: Tour, app, client) -> None:
    """Confirm and unsubscribe: ask, answer, and a bad link, under both mounts (one address each)."""
    with app.app_context():
        rows = db.session.scalars(select(StandingSubscriber).order_by(StandingSubscriber.id)).all()
        links = [(subscriptions.confirm_url(row.id), subscriptions.standing_unsubscribe_url(row.id)) for row in rows]
    assert len(links) == 2, links
    for prefix, (confirm, unsubscribe) in zip(("", "/_pausa"), links, strict=True):
        confirm_path = prefix + urlsplit(confirm).path.removeprefix("/_pausa")
        unsubscribe_path = prefix + urlsplit(unsubscribe).path.removeprefix("/_pausa")
        tour.page(f"confirm, asks {confirm_path}", client.get(confirm_path))
        tour.page(f"confirm, done {confirm_path}", client.post(confirm_path))
        tour.page(f"confirm, bad link {prefix}", client.get(f"{prefix}/status/confirm/forged"), 400)
        tour.page(f"unsubscribe, asks {unsubscribe_path}", client.get(unsubscribe_path))
        tour.page(f"unsubscribe, done {unsubscribe_path}", client.post(unsubscribe_path))
        tour.page(f"unsubscribe, bad link {prefix}", client.get(f"{prefix}/status/unsubscribe/forged"), 400)


def _viewer_pages(tour: Tour, app) -> None:
    """The sample app's pages for a signed-in viewer, its form errors, and what a viewer may not see."""
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("user")
    tour.page("viewer /", client.get("/"))
    token = csrf_from(tour.page("viewer /account", client.get("/account")))
    long_note = {"note": "x" * 300, "csrf_token": token}
    tour.page("viewer /account, note too long", client.post("/account", data=long_note), 400)
    tour.page("viewer /account, form expired (CSRF)", client.post("/account", data={"note": "x"}), 400)
    tour.page("viewer /admin, forbidden", client.get("/admin"), 403)


def _paused_writes(tour: Tour, app) -> None:
    """A save during the drain period: "changes are paused" (for htmx it is a sentence in plain text)."""
    for accept in LANGUAGES:
        paused = app.test_client().post("/account", data={"note": "draft"}, headers={"Accept-Language": accept})
        tour.page(f"draining {accept}: a POST is paused", paused, 503)


def _blocked_answers(tour: Tour, app, client, state: str) -> None:
    """What the gate answers a blocked request: a save, and a proxy's edge check (traefik, nginx)."""
    for accept in LANGUAGES:
        language = {"Accept-Language": accept}
        saved = app.test_client().post("/account", data={"note": "draft"}, headers=language)
        tour.page(f"active, {state} {accept}: a POST is not saved", saved, 503)
        edge = {"X-Forwarded-Uri": "/account", "X-Forwarded-Method": "GET", "Accept": "text/html", **language}
        tour.page(f"active, {state} {accept}: /gate/check", client.get("/gate/check", headers=edge), 503)
        nginx = {"X-Original-URI": "/account", "X-Original-Method": "POST", "Accept": "text/html", **language}
        tour.page(f"active, {state} {accept}: /gate/page", client.get("/gate/page", headers=nginx), 503)


def _while_active(tour: Tour, app, client, window_id: int) -> None:
    """An admin on the site (the banner), a tester with a bypass link, and the subscribe flow."""
    admin = app.test_client()
    AuthActions(admin).login("admin")
    tour.page("active, admin /", admin.get("/"))
    with app.app_context():
        _, raw = bypass_service.create_link(CLI, "1h", window_id)
    tester = app.test_client()
    assert tester.get(f"/bypass/{raw}").status_code == 302
    tour.page("active, bypassing /", tester.get("/"))
    _subscribe_flow(tour, client)


def _subscribe_flow(tour: Tour, client) -> None:
    """"Email me when it's back": errors, the confirmation, and the unsubscribe link, under both mounts."""
    for prefix in ("/maintenance", "/_pausa"):
        for accept, lang in LANGUAGES.items():
            language = {"Accept-Language": accept}
            key = f"active {accept} {prefix}/subscribe"
            tour.page(f"{key}, bad address", client.post(f"{prefix}/subscribe", data={"email": "no"}, headers=language),
                      422)
            bad = client.post(f"{prefix}/subscribe", data={"email": "no"}, headers={**language, **HX})
            tour.fragment(f"{key}, bad address (htmx)", bad, 422, language=lang)
            tour.page(key, client.post(f"{prefix}/subscribe", data={"email": "ana@example.com"}, headers=language))
            good = client.post(f"{prefix}/subscribe", data={"email": "ana@example.com"}, headers={**language, **HX})
            html = tour.fragment(f"{key} (htmx)", good, language=lang)
        match = re.search(r'href="([^"]*/unsubscribe/[^"]+)"', html)
        assert match, html
        path = urlsplit(match.group(1)).path
        tour.page(f"unsubscribe, asks {prefix}", client.get(path))
        tour.page(f"unsubscribe, done {prefix}", client.post(path))
        tour.page(f"unsubscribe, bad link {prefix}", client.get(f"{prefix}/unsubscribe/forged"), 400)


def rate_limited_tour(folder) -> Tour:
    """The answers of a form tried too often: login, and both email forms (page and htmx)."""
    tour = Tour()
    app = tour.app(folder, SUBSCRIBE_RATE_LIMIT="1 per minute", LOGIN_RATE_LIMIT="1 per minute")
    activate(app, eta="30m")
    client = app.test_client()
    auth = AuthActions(client)
    auth.login("admin", password="wrong")
    tour.page("login, too many tries", auth.login("admin", password="wrong"), 429)
    for path in ("/maintenance/subscribe", "/status/subscribe"):
        client.post(path, data={"email": "ana@example.com"})
        tour.page(f"{path}, too many tries", client.post(path, data={"email": "ana@example.com"}), 429)
        tour.fragment(f"{path}, too many tries (htmx)", client.post(path, data={"email": "ana@example.com"},
                                                                    headers=HX), 429)
    return tour
