"""axe-core on every page a person sees, on a desktop and a phone, in both languages: zero violations.

Each test walks through the pages of one state (idle, maintenance, a planned window, the forms and
their errors) and runs every axe-core rule once the page has settled; the assertion lists every
violation of every page it saw, so one run shows all there is to fix (docs/architecture.md, Browser).
Every check notes the endpoints of what it saw; the last test fails, naming them, when a GET endpoint
that answers HTML was never checked (docs/accessibility.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from pausa_gate.windows import utcnow
from playwright.sync_api import expect
from werkzeug.exceptions import HTTPException

from app.extensions import db, limiter
from app.maintenance.validation import validate_window
from app.models import MaintenanceWindow, Notice, StandingSubscriber, User
from app.services import audit, password_links, scheduling
from app.services import bypass as bypass_service
from app.services import state as state_service
from app.services import subscriptions as subscription_service
from tests.app.test_markup import NOT_HTML
from tests.app.test_markup_admin import busy
from tests.support.apps import PASSWORD, USERS, make_app
from tests.support.axe import assert_accessible_without_javascript, axe_violations, describe
from tests.support.live_server import LIVE_OVERRIDES, LiveServer, serve, sign_in

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}
LANGUAGES = ("en", "pt-BR")
# What a save refused while writes are paused before a window says: its heading, and its notice.
NOT_SAVED = {"en": "Your change was not saved", "pt-BR": "Sua alteração não foi salva"}
PAUSED = {"en": "changes are paused because maintenance starts at",
          "pt-BR": "as alterações estão pausadas porque a manutenção começa às"}
# Accepted by the browser's own check of type=email, refused by the server's (no dot in the domain).
BAD_EMAIL = "visitor@localhost"


@dataclass
class Coverage:
    """The endpoints whose HTML axe-core checked on this module's server, and the tests that fed them."""

    base_url: str
    url_map: object
    # Paths of the HTML pages and fragments the browser got since the last check (htmx swaps fragments
    # into the page: a check covers them too).
    loaded: list[str] = field(default_factory=list)
    checked: set[str] = field(default_factory=set)
    feeders: set[str] = field(default_factory=set)

    def watch(self, context) -> None:
        """Note every HTML answer to a GET that `context` gets from the server."""
        context.on("response", self._loaded)

    def _loaded(self, response) -> None:
        content_type = response.headers.get("content-type", "")
        if (response.request.method == "GET" and response.url.startswith(self.base_url)
                and content_type.startswith("text/html")):
            self.loaded.append(urlsplit(response.url).path)

    def note(self, page) -> None:
        """Count the endpoints of `page` and of what it loaded since the last check as checked."""
        paths, self.loaded = [*self.loaded, urlsplit(page.url).path], []
        adapter = self.url_map.bind("localhost")
        for path in paths:
            with suppress(HTTPException):  # the 404 page answers for no endpoint
                self.checked.add(adapter.match(path, method="GET")[0])


@dataclass
class Pages:
    """The pages one test looked at, and the violations axe-core found on each."""

    where: str
    coverage: Coverage
    failures: list[str] = field(default_factory=list)

    def check(self, page, label: str) -> None:
        """Run axe-core on `page` once its htmx requests are done, and note any violation."""
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        self.coverage.note(page)
        if violations:
            self.failures.append(f"{label} [{self.where}] {page.url}\n{describe(violations)}")

    def check_without_javascript(self, page, label: str, excused: tuple[str, ...] = ()) -> None:
        """Run axe-core on `page`, from a context whose scripts are off, and note any violation."""
        try:
            assert_accessible_without_javascript(page, f"{label} [{self.where}] {page.url}", excused)
        except AssertionError as failure:
            self.failures.append(str(failure))
        self.coverage.note(page)

    def assert_accessible(self) -> None:
        assert not self.failures, f"{len(self.failures)} page(s) with violations:\n\n" + "\n\n".join(
            self.failures
        )


@pytest.fixture(params=VIEWPORTS)
def viewport(request) -> str:
    return request.param


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture(autouse=True)
def _fresh_rate_limits(live_server) -> None:
    """Every test may sign in, subscribe and send forms: the limits count from zero for each."""
    with live_server.app.app_context():
        limiter.reset()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """This module's own server: the windows and entries it makes stay out of the other tests' figures.

    Its maintenance page reloads itself once a minute, not every second: without JavaScript the page
    refreshes with <meta http-equiv="refresh"> at the poll interval, which at the shared server's one
    second would reload it under axe-core and under the visitor's typing.
    """
    database = tmp_path_factory.mktemp("accessibility") / "pausa.db"
    overrides = {**LIVE_OVERRIDES, "STATUS_POLL_MIN_SECONDS": 60, "STATUS_POLL_MAX_SECONDS": 60}
    app = make_app(database.parent, database_url=f"sqlite:///{database}", **overrides)
    app.add_url_rule("/broken", "broken", broken)
    url, stop = serve(app, name="accessibility-server")
    yield LiveServer(app=app, url=url)
    stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def broken():
    """Fail as an unexpected bug would, so the 500 page can be checked."""
    raise RuntimeError("a bug, on purpose: the 500 page")


@pytest.fixture(scope="module")
def coverage(live_server) -> Coverage:
    return Coverage(base_url=live_server.url, url_map=live_server.app.url_map)


@pytest.fixture(autouse=True)
def _feeds_coverage(request, coverage) -> Iterator[None]:
    """Note each test that ran, so the coverage test knows whether it saw the whole module."""
    yield
    coverage.feeders.add(request.node.nodeid)


@pytest.fixture(scope="module")
def admin_storage(browser, live_server) -> dict:
    """An admin session on this module's server."""
    context = browser.new_context()
    sign_in(context.new_page(), live_server.url)
    state = context.storage_state()
    context.close()
    return state


@pytest.fixture
def open_page(browser, coverage) -> Iterator[Callable[..., object]]:
    """Open a page in a fresh context (a viewport, a language, maybe signed in, maybe without script)."""
    contexts = []

    def opener(viewport: str, language: str = "en", storage: dict | None = None, javascript: bool = True):
        context = browser.new_context(
            viewport=VIEWPORTS[viewport], locale=language, storage_state=storage,
            java_script_enabled=javascript,
        )
        contexts.append(context)
        coverage.watch(context)
        return context.new_page()

    yield opener
    for context in contexts:
        context.close()


@pytest.fixture
def planned(live_server) -> Iterator[Callable[..., int]]:
    """Plan windows for one test, and cancel them afterwards so no other test sees them."""
    made: list[int] = []

    def plan(**fields) -> int:
        data = {"message": "Moving the database to a new server", "reason": "database",
                "starts_at": "2h", "ends_at": "1h", **fields}
        with live_server.app.app_context():
            window = scheduling.schedule_window(validate_window(data, utcnow()), live_server.actor)
            made.append(window.id)
            return window.id

    yield plan
    with live_server.app.app_context():
        for window_id in made:
            if db.session.get(MaintenanceWindow, window_id).status == "scheduled":
                scheduling.cancel_window(window_id, live_server.actor)


def make_overdue(live_server) -> None:
    """Move the ETA of the window in effect five minutes into the past."""
    with live_server.app.app_context():
        window = db.session.scalar(db.select(MaintenanceWindow).filter_by(status="active"))
        window.eta = utcnow().replace(microsecond=0) - timedelta(minutes=5)
        state_service.bump_version()
        db.session.commit()


def submit(page, form: str) -> None:
    """Press the submit button of the form `form` selects, and wait for the page it brings."""
    with page.expect_navigation():
        page.locator(f"{form} button").first.click()


def swap(page, form: str) -> None:
    """Press the submit button of the form `form` selects, which htmx sends and answers in place."""
    page.locator(f"{form} button[type=submit]").click()


# Pages visitors see: both viewports, both languages.


def test_public_pages_with_no_maintenance(live_server, open_page, coverage, viewport, language):
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    page.goto(f"{live_server.url}/")
    expect(page.locator("h1")).to_be_visible()
    pages.check(page, "home")

    page.goto(f"{live_server.url}/auth/login")
    pages.check(page, "login")
    page.locator("#email").fill(USERS["user"])
    page.locator("#password").fill("not the password")
    submit(page, "main form")
    expect(page.locator("#login-error")).to_be_visible()
    pages.check(page, "login with an error")

    page.goto(f"{live_server.url}/maintenance")
    pages.check(page, "maintenance page with nothing going on")
    page.goto(f"{live_server.url}/status")
    expect(page.locator("#status-now")).to_be_visible()
    pages.check(page, "status page, idle")
    page.goto(f"{live_server.url}/bypass/not-a-real-link")
    pages.check(page, "bypass link not valid")
    page.goto(f"{live_server.url}/no-such-page")
    pages.check(page, "404")
    pages.assert_accessible()


def test_set_password_pages(live_server, open_page, coverage, viewport, language):
    with live_server.app.app_context():
        user = db.session.scalar(db.select(User).filter_by(email=USERS["qa"]))
        link = password_links.link_url(password_links.make_token(user))
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    page.goto(f"{live_server.url}{link}")
    expect(page.locator("#password")).to_be_visible()
    pages.check(page, "set password")
    page.locator("#password").fill("short")
    page.locator("#password_confirmation").fill("short")
    submit(page, "main form")
    expect(page.locator("#password-error")).to_be_visible()
    pages.check(page, "set password with an error")
    page.goto(f"{live_server.url}/auth/set-password/not-a-real-link")
    pages.check(page, "set password, link not valid")
    pages.assert_accessible()


@pytest.mark.parametrize("variant", ["eta", "no eta", "overdue"])
def test_maintenance_page(live_server, open_page, coverage, viewport, language, variant):
    live_server.activate(eta="" if variant == "no eta" else "30m")
    if variant == "overdue":
        make_overdue(live_server)
    pages = Pages(f"{viewport}, {language}, {variant}", coverage)
    page = open_page(viewport, language)
    assert page.goto(f"{live_server.url}/").status == 503
    expect(page.locator("#maintenance-status")).to_be_visible()
    pages.check(page, "maintenance page")
    page.goto(f"{live_server.url}/status")
    pages.check(page, "status page during maintenance")
    pages.assert_accessible()


def test_change_not_saved_in_read_only_maintenance(live_server, open_page, coverage, viewport, language):
    live_server.activate(mode="read_only")
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    sign_in_any_language(page, live_server.url, "user")
    page.goto(f"{live_server.url}/account")
    expect(page.locator("#maintenance-banner .banner")).to_be_visible()
    pages.check(page, "a page with the read-only banner")
    page.locator("#note").fill("A note")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").first.click()
    expect(page.get_by_role("alert")).to_be_visible()
    pages.check(page, "your change was not saved")
    pages.assert_accessible()


@pytest.mark.parametrize("variant", ["announced", "draining"])
def test_a_planned_window(live_server, open_page, coverage, planned, viewport, language, variant):
    if variant == "announced":
        planned(starts_at="2h", notice_minutes="180")
    else:
        planned(starts_at="20m", notice_minutes="60", drain_minutes="30")
    pages = Pages(f"{viewport}, {language}, {variant}", coverage)
    page = open_page(viewport, language)
    page.goto(f"{live_server.url}/")
    expect(page.locator("#maintenance-banner .banner")).to_be_visible()
    pages.check(page, "home with the announcement banner")
    page.goto(f"{live_server.url}/maintenance")
    pages.check(page, "maintenance page announcing the window")
    page.goto(f"{live_server.url}/status")
    pages.check(page, "status page with a planned window")
    if variant == "draining":
        sign_in_any_language(page, live_server.url, "user")
        page.goto(f"{live_server.url}/account")
        page.locator("#note").fill("A note")
        with page.expect_navigation():
            page.locator("main form button[type=submit]").first.click()
        # A whole page read from its heading (no alert around its ticking countdown).
        expect(page.get_by_role("heading", level=1)).to_have_text(NOT_SAVED[language])
        expect(page.locator("main .notice")).to_contain_text(PAUSED[language])
        pages.check(page, "your change was not saved: writes paused before the window")
    pages.assert_accessible()


def test_subscribe_with_javascript(live_server, open_page, coverage, viewport, language):
    live_server.activate()
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    page.goto(f"{live_server.url}/")
    page.locator("#subscribe-email").fill(BAD_EMAIL)
    page.locator("#subscribe button[type=submit]").click()
    expect(page.locator("#subscribe-error")).to_be_visible()
    pages.check(page, "subscribe: an error")
    page.locator("#subscribe-email").fill("visitor@example.com")
    page.locator("#subscribe button[type=submit]").click()
    expect(page.locator("#subscribe [role=status]")).to_contain_text("visitor@example.com")
    pages.check(page, "subscribe: confirmation")

    page.goto(f"{live_server.url}/status")
    page.locator("#standing-email").fill(BAD_EMAIL)
    page.locator("#standing-subscribe button[type=submit]").click()
    expect(page.locator("#standing-error")).to_be_visible()
    pages.check(page, "status page subscribe: an error")
    page.locator("#standing-email").fill("visitor@example.com")
    page.locator("#standing-subscribe button[type=submit]").click()
    expect(page.locator("#standing-subscribe [role=status]")).to_contain_text("visitor@example.com")
    pages.check(page, "status page subscribe: confirmation")
    pages.assert_accessible()


def test_subscribe_without_javascript(live_server, open_page, coverage, viewport, language):
    live_server.activate()
    pages = Pages(f"{viewport}, {language}, no JavaScript", coverage)
    page = open_page(viewport, language, javascript=False)

    page.goto(f"{live_server.url}/")
    # The page reloads itself without JavaScript: its form is a link to a page that does not reload.
    expect(page.locator("#subscribe-email")).to_be_hidden()
    pages.check_without_javascript(page, "maintenance page", excused=("meta-refresh",))
    with page.expect_navigation():
        page.locator("#subscribe noscript a, #subscribe a[href$='/subscribe']").first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    pages.check_without_javascript(page, "subscribe page")
    page.locator("#subscribe-email").fill(BAD_EMAIL)
    submit(page, "#subscribe")
    expect(page.locator("#subscribe-error")).to_be_visible()
    pages.check_without_javascript(page, "subscribe page: an error")
    page.locator("#subscribe-email").fill("visitor@example.com")
    submit(page, "#subscribe")
    expect(page.locator("#subscribe [role=status]")).to_contain_text("visitor@example.com")
    pages.check_without_javascript(page, "subscribe page: confirmation")
    page.goto(f"{live_server.url}/maintenance/subscribe")
    pages.check_without_javascript(page, "subscribe page under /maintenance")

    page.goto(f"{live_server.url}/status")
    pages.check_without_javascript(page, "status page")
    page.locator("#standing-email").fill(BAD_EMAIL)
    submit(page, "#standing-subscribe")
    expect(page.locator("#standing-error")).to_be_visible()
    pages.check_without_javascript(page, "status subscribe page: an error")
    page.locator("#standing-email").fill("visitor@example.com")
    submit(page, "#standing-subscribe")
    expect(page.locator("#standing-subscribe [role=status]")).to_be_visible()
    pages.check_without_javascript(page, "status subscribe page: confirmation")
    pages.assert_accessible()


def test_links_from_the_emails(live_server, open_page, coverage, viewport, language):
    live_server.activate()
    with live_server.app.app_context():
        window_id = db.session.scalar(db.select(MaintenanceWindow.id).filter_by(status="active"))
        address = f"{viewport}.{language}@example.com"
        subscription = subscription_service.subscribe(window_id, address, language)
        unsubscribe = subscription_service.unsubscribe_url(subscription.subscriber_id)
        address = subscription_service.subscribe_standing(address, language)
        standing_id = db.session.scalar(db.select(StandingSubscriber.id).filter_by(email=address))
        confirm = subscription_service.confirm_url(standing_id)
        standing_unsubscribe = subscription_service.standing_unsubscribe_url(standing_id)
    live_server.end()
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    links = (("confirm notices", confirm), ("unsubscribe from notices", standing_unsubscribe),
             ("unsubscribe from the end of a window", unsubscribe))
    for label, link in links:
        # The same questions under the prefix host apps mount Pausa's pages at.
        path = urlsplit(link).path.replace("/maintenance/", "/", 1)
        page.goto(f"{live_server.url}/_pausa{path}")
        pages.check(page, f"{label} under /_pausa: the question")
    for label, link in links:
        # The links name PUBLIC_URL's site; the live server is elsewhere.
        page.goto(live_server.url + urlsplit(link).path)
        pages.check(page, f"{label}: the question")
        submit(page, "main form")
        pages.check(page, f"{label}: the answer")
    page.goto(f"{live_server.url}/status/confirm/not-a-real-link")
    pages.check(page, "confirm notices: link not valid")
    pages.assert_accessible()


def test_error_pages(live_server, open_page, coverage, viewport, language):
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    sign_in_any_language(page, live_server.url, "user")
    assert page.goto(f"{live_server.url}/admin").status == 403
    pages.check(page, "403: a viewer on the dashboard")
    assert page.goto(f"{live_server.url}/admin/maintenance/activate").status == 405
    pages.check(page, "405: a form's address opened as a page")
    assert page.goto(f"{live_server.url}/broken").status == 500
    pages.check(page, "500: a bug")

    page = open_page(viewport, language)
    page.goto(f"{live_server.url}/auth/login")
    for _ in range(20):  # the login limit (LOGIN_RATE_LIMIT) is ten a minute
        page.locator("#email").fill(USERS["user"])
        page.locator("#password").fill("not the password")
        with page.expect_navigation() as answer:
            page.locator("main form button[type=submit]").click()
        if answer.value.status == 429:
            break
    assert answer.value.status == 429, "the login form was never refused for too many tries"
    pages.check(page, "429: too many tries")
    pages.assert_accessible()


SWAP_BANNER = """async (url) => {
  const answer = await fetch(url);
  document.getElementById("maintenance-banner").outerHTML = await answer.text();
}"""


def test_pages_while_maintenance_is_on(live_server, open_page, coverage, viewport, language):
    """A tester through a bypass link, the pages under the host apps' prefix, and the edge gate's pages."""
    live_server.activate()
    with live_server.app.app_context():
        window_id = db.session.scalar(db.select(MaintenanceWindow.id).filter_by(status="active"))
        _, token = bypass_service.create_link(live_server.actor, "1h", window_id)
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language)
    page.goto(f"{live_server.url}/bypass/{token}")
    expect(page.locator("#maintenance-banner .banner-bypass")).to_be_visible()
    pages.check(page, "the site for a tester bypassing maintenance")
    # The banner host apps fetch from under /_pausa, in place of this one.
    page.evaluate(SWAP_BANNER, "/_pausa/banner")
    expect(page.locator("#maintenance-banner .banner-bypass")).to_be_visible()
    pages.check(page, "the banner host apps show a tester")
    for path, label in (("/maintenance/status", "the maintenance status, as a page"),
                        ("/_pausa/status", "the maintenance status under /_pausa, as a page")):
        page.goto(f"{live_server.url}{path}")
        pages.check(page, label)

    page = open_page(viewport, language)
    for path, label in (("/_pausa", "maintenance page under /_pausa"), ("/_pausa/status/", "status page under /_pausa"),
                        ("/_pausa/bypass/not-a-real-link", "bypass link not valid under /_pausa")):
        page.goto(f"{live_server.url}{path}")
        pages.check(page, label)
    # What the edge gate answers a proxy for a blocked page (traefik's forward auth, nginx's auth_request).
    page.set_extra_http_headers({"X-Forwarded-Uri": "/account", "X-Forwarded-Method": "GET"})
    assert page.goto(f"{live_server.url}/gate/check").status == 503
    pages.check(page, "the edge gate's blocked page (check)")
    page.set_extra_http_headers({"X-Original-URI": "/account", "X-Original-Method": "GET"})
    assert page.goto(f"{live_server.url}/gate/page").status == 503
    pages.check(page, "the edge gate's blocked page (page)")
    pages.assert_accessible()


def sign_in_any_language(page, base_url: str, role: str) -> None:
    """Sign in through the login form by its fields' ids (their labels follow the language)."""
    page.goto(f"{base_url}/auth/login")
    page.locator("#email").fill(USERS[role])
    page.locator("#password").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    assert "/auth/login" not in page.url, "sign-in failed"


# Pages admins see: both viewports (the dashboard is for admins only: no other role sees it).


@pytest.fixture(scope="module")
def history(live_server) -> None:
    """Enough audit entries to fill a page, and past windows in the analytics' default range."""
    with live_server.app.app_context():
        for number in range(30):
            audit.record("maintenance.window.extended", live_server.actor, f"window:{800_000 + number}",
                         {"before": {"eta": None}, "after": {"eta": "2026-01-31T02:00:00+00:00"}})
        for days in (3, 10, 20):
            start = utcnow() - timedelta(days=days)
            db.session.add(MaintenanceWindow(
                status="completed", reason="deployment", message="Deploying v2", created_by="cli:a11y",
                started_by="cli:a11y", created_at=start, starts_at=start, started_at=start,
                ended_at=start + timedelta(hours=1), ended_how="manual", eta=start + timedelta(minutes=30),
            ))
        db.session.commit()


def test_dashboard_idle_then_active(live_server, open_page, coverage, admin_storage, planned, history, viewport, language):
    planned(starts_at="1d")
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language, storage=admin_storage)
    page.goto(f"{live_server.url}/admin")
    expect(page.locator("#status-card")).to_be_visible()
    pages.check(page, "dashboard, idle")

    page.locator("#eta").fill("not a time")
    swap(page, "#activate-window form")
    expect(page.locator("#eta[aria-invalid=true]")).to_be_visible()
    pages.check(page, "dashboard, activate form with an error")

    page.locator("#eta").fill("30m")
    page.locator("#message").fill("Deploying v2")
    swap(page, "#activate-window form")
    expect(page.locator("#update-window")).to_be_visible()
    pages.check(page, "dashboard, maintenance active")
    page.goto(f"{live_server.url}/admin")
    pages.check(page, "dashboard, maintenance active (loaded)")
    pages.assert_accessible()


def test_schedule_pages(live_server, open_page, coverage, admin_storage, planned, viewport, language):
    window_id = planned(starts_at="1d")
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language, storage=admin_storage)
    page.goto(f"{live_server.url}/admin/windows/new")
    pages.check(page, "schedule a window")
    page.locator("#starts_at").fill("not a time")
    swap(page, "#schedule-form")
    expect(page.locator("#starts_at-error")).to_be_visible()
    pages.check(page, "schedule a window with an error")
    page.goto(f"{live_server.url}/admin/windows/{window_id}/edit")
    pages.check(page, "change a planned window")
    pages.assert_accessible()


def test_audit_and_analytics(live_server, open_page, coverage, admin_storage, history, viewport, language):
    pages = Pages(f"{viewport}, {language}", coverage)
    page = open_page(viewport, language, storage=admin_storage)
    page.goto(f"{live_server.url}/admin/audit")
    expect(page.locator("#chain-status")).to_contain_text(re.compile(r"\d"))
    pages.check(page, "audit history")
    page.goto(f"{live_server.url}/admin/audit?action=maintenance.window.extended&since=2020-01-01")
    expect(page.locator("#chain-status")).to_contain_text(re.compile(r"\d"))
    pages.check(page, "audit history, filtered")
    assert page.goto(f"{live_server.url}/admin/audit?since=soon").status == 400
    pages.check(page, "audit history, a filter not understood")
    page.goto(f"{live_server.url}/admin/audit/verify")
    pages.check(page, "audit chain verification")
    page.goto(f"{live_server.url}/admin/analytics")
    expect(page.locator("svg.timeline")).to_be_visible()
    # The monthly chart's scroll box is named by its section's heading; the chart says what it draws.
    expect(page.locator(".chart-scroll")).to_have_accessible_name(page.locator("#monthly-heading").inner_text())
    pages.check(page, "analytics")
    assert page.goto(f"{live_server.url}/admin/analytics?since=2026-02-01&until=2026-01-01").status == 400
    pages.check(page, "analytics, a period that ends before it starts")
    pages.assert_accessible()


# A table wider than a phone scrolls sideways inside its box: a keyboard must reach and scroll it.

FOCUSED_SCROLL_BOX = """(heading) => {
  const box = document.activeElement;
  if (!box.classList.contains("table-scroll")) return null;
  return {heading: box.closest("section").querySelector("h2").id, left: box.scrollLeft,
          overflow: box.scrollWidth - box.clientWidth};
}"""


@pytest.mark.parametrize(("path", "heading"), [("/admin/analytics", "windows-heading"),
                                               ("/admin", "recent-windows")])
def test_tab_reaches_a_wide_table_and_arrow_keys_scroll_it(live_server, open_page, admin_storage, history,
                                                          path, heading):
    page = open_page("phone", storage=admin_storage)
    page.goto(f"{live_server.url}{path}")
    page.wait_for_load_state("networkidle")
    box = page.locator(f"section[aria-labelledby={heading}] .table-scroll")
    assert box.evaluate("box => box.scrollWidth > box.clientWidth"), "the table fits: nothing to scroll"
    focused = None
    for _ in range(300):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_SCROLL_BOX)
        if focused and focused["heading"] == heading:
            break
    assert focused and focused["heading"] == heading, "Tab never reaches the table's scrolling box"
    # Named after its section, as a screen reader announces it on arrival.
    expect(box).to_have_accessible_name(page.locator(f"#{heading}").inner_text())
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(left) => document.activeElement.scrollLeft > left", arg=focused["left"],
                           timeout=5_000)


# What makes a page scroll sideways: the innermost elements that reach past the window's right edge.
TOO_WIDE = """() => {
  if (document.documentElement.scrollWidth <= window.innerWidth) return [];
  const wide = [...document.querySelectorAll("main *")].filter(
    (node) => node.getBoundingClientRect().right > window.innerWidth + 1 && !node.closest(".table-scroll"));
  return wide.filter((node) => !wide.some((other) => other !== node && node.contains(other)))
    .slice(0, 5).map((node) => node.outerHTML.slice(0, 160));
}"""


def test_busy_dashboard(live_server, open_page, coverage, admin_storage):
    """A row in every card (links, tokens, subscribers, alerts, recurrences, notices...), in every viewport
    and language: the rows are made once (busy() names its tokens), so one test walks through them all."""
    planned_id = busy(live_server.app)
    with live_server.app.app_context():
        subscriber_id = db.session.scalar(db.select(StandingSubscriber.id))
        db.session.add(Notice(standing_subscriber_id=subscriber_id, window_id=planned_id, kind="scheduled",
                              status="sent"))
        db.session.commit()
    try:
        pages = Pages("busy", coverage)
        for viewport in VIEWPORTS:
            for language in LANGUAGES:
                page = open_page(viewport, language, storage=admin_storage)
                page.goto(f"{live_server.url}/admin")
                expect(page.locator("#notices-panel table")).to_be_visible()
                pages.check(page, f"dashboard with a row in every card ({viewport}, {language})")
                # Wide tables scroll inside their own box, never the whole page.
                too_wide = page.evaluate(TOO_WIDE)
                assert not too_wide, f"{viewport}, {language}: the page scrolls sideways because of {too_wide}"
                # The cards htmx refreshes, each as the page a browser without htmx gets (on a phone,
                # where a layout breaks first).
                for path in ("/admin/panel", "/admin/status-card", "/admin/health-panel", "/admin/deliveries"):
                    if viewport != "phone":
                        break
                    page.goto(f"{live_server.url}{path}")
                    pages.check(page, f"{path} as a page ({viewport}, {language})")
                page.context.close()
        pages.assert_accessible()
    finally:
        with live_server.app.app_context():
            scheduling.cancel_window(planned_id, live_server.actor)


# Last in the file, so pytest runs it after every test that feeds it.


def test_every_html_endpoint_is_checked_by_axe(request, live_server, coverage):
    """Every GET endpoint that answers HTML (tests/app/test_markup.py's NOT_HTML lists the others) was
    checked by axe-core above: a new page fails here, named, until a test of this module checks it."""
    module = request.node.module.__name__
    mine = [item for item in request.session.items if item.module.__name__ == module and item is not request.node]
    functions = {name for name, value in vars(request.node.module).items()
                 if name.startswith("test_") and callable(value) and name != request.node.originalname}
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    deselected = [item for item in getattr(terminal, "stats", {}).get("deselected", [])
                  if getattr(item, "module", None) is not None and item.module.__name__ == module]
    selected_by_id = any("::" in argument and "test_accessibility" in argument for argument in request.config.args)
    whole = (not deselected and not selected_by_id and {item.originalname for item in mine} == functions
             and coverage.feeders >= {item.nodeid for item in mine})
    endpoints = {rule.endpoint for rule in live_server.app.url_map.iter_rules() if "GET" in (rule.methods or ())}
    unchecked = sorted(endpoints - coverage.checked - set(NOT_HTML))
    if not whole:
        pytest.skip(f"only part of this module ran: cannot tell which pages axe-core misses ({len(unchecked)} "
                    "endpoint(s) not seen in this partial run)")
    assert not unchecked, (
        "GET endpoints answering HTML that no axe-core test checks (check them in a test above, or list them "
        f"in NOT_HTML, tests/app/test_markup.py, if they do not answer HTML): {', '.join(unchecked)}"
    )
