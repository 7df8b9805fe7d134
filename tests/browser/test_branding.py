"""A branded maintenance page in a real browser: site name, logo, accent, named time zones (issue 13)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.support.apps import make_app
from tests.support.browser import launch_chromium
from tests.support.live_server import LIVE_OVERRIDES, LiveServer, serve

pytestmark = pytest.mark.browser

SITE = "Acme Shop"
HEADING = f"{SITE} is down for maintenance"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
    '<rect width="120" height="40" fill="#444"/></svg>'
)
JS_COUNTDOWN = re.compile(r"^\d+ min \d\d s$")
# A dark accent keeps white text; a light one gets black text (WCAG 4.5:1 either way).
ACCENTS = {"#7b1fa2": ("rgb(123, 31, 162)", "rgb(255, 255, 255)"), "#ffd54f": ("rgb(255, 213, 79)", "rgb(0, 0, 0)")}

# The WCAG contrast of an element's text on its background (or on `background`, an rgb() colour).
CONTRAST = """(element, background) => {
  const parse = text => text.match(/\\d+/g).slice(0, 3).map(Number);
  const luminance = rgb => {
    const [r, g, b] = rgb.map(c => { c /= 255; return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const style = getComputedStyle(element);
  const [a, b] = [luminance(parse(style.color)), luminance(parse(background || style.backgroundColor))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


@pytest.fixture(scope="module", params=sorted(ACCENTS))
def branded_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("branded")
    (directory / "brand" / "static").mkdir(parents=True)
    (directory / "brand" / "static" / "logo.svg").write_text(LOGO_SVG)
    database = directory / "pausa.db"
    app = make_app(directory, database_url=f"sqlite:///{database}", **LIVE_OVERRIDES, SITE_NAME=SITE,
                   LOGO_URL="/_pausa/brand/logo.svg", ACCENT_COLOR=request.param,
                   TEMPLATES_DIR=str(directory / "brand"))
    url, stop = serve(app)
    server = LiveServer(app=app, url=url)
    yield server
    stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_branded_maintenance_page(playwright_driver, branded_server, console_errors):
    """Site name, logo and accent (with readable text), a ticking countdown and a named time zone."""
    accent, ink = ACCENTS[branded_server.app.config["ACCENT_COLOR"]]
    # A browser of its own: Chromium asks for a favicon once per browser, on the first page.
    browser = launch_chromium(playwright_driver)
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{branded_server.url}/")
        header = page.locator("header.site-header")
        expect(header.get_by_role("link", name=SITE)).to_be_visible()
        assert header.evaluate("e => getComputedStyle(e).borderBottomColor") == accent

        page.goto("about:blank")
        branded_server.activate(message="Moving to a bigger warehouse", eta="30m")
        url = f"{branded_server.url}/account"
        console_errors.expected_document_status[url] = 503
        assert page.goto(url).status == 503
        expect(page).to_have_title(HEADING)
        expect(page.get_by_role("heading", level=1)).to_have_text(HEADING)
        assert page.locator("html").get_attribute("lang") == "en"

        logo = page.get_by_role("img", name=SITE)
        expect(logo).to_be_visible()
        assert logo.evaluate("img => img.complete && img.naturalWidth") == 120, "the logo did not load"

        button = page.get_by_role("button", name="Notify me")
        assert button.evaluate("e => getComputedStyle(e).backgroundColor") == accent
        assert button.evaluate("e => getComputedStyle(e).color") == ink
        assert button.evaluate(CONTRAST) >= 4.5

        countdown = page.locator("#maintenance-status [data-countdown]")
        expect(countdown).to_have_text(JS_COUNTDOWN)
        assert countdown.evaluate("e => getComputedStyle(e).backgroundColor") == accent
        assert countdown.evaluate(CONTRAST) >= 4.5
        before = countdown.text_content()
        page.wait_for_timeout(2_200)
        assert countdown.text_content() != before, f"countdown stuck at {before!r}"

        # The visitor's own time, with its zone named: New York in winter or summer.
        expect(page.locator("time[data-local]")).to_have_text(re.compile(r"\b(EST|EDT)$"))
        expect(page.locator("#maintenance-status [data-live-text]")).to_be_visible()
        for link in page.locator("main a, .language-switcher a").all():
            assert link.evaluate(CONTRAST, "rgb(255, 255, 255)") >= 4.5, link.text_content()

        page.wait_for_timeout(1_200)  # let the status poll swap at least once
        assert console_errors.messages == []
    finally:
        context.close()
        browser.close()
        if branded_server.is_active():
            branded_server.end()


def test_a_branded_page_fits_a_narrow_phone(browser, branded_server):
    context = browser.new_context(viewport={"width": 320, "height": 640})
    try:
        branded_server.activate(message="Moving to a bigger warehouse", eta="2h")
        page = context.new_page()
        assert page.goto(f"{branded_server.url}/account").status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(HEADING)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"the branded maintenance page is {width}px wide in a 320px viewport"
    finally:
        context.close()
        if branded_server.is_active():
            branded_server.end()


@pytest.mark.parametrize("language, zone, named", [
    ("en", "America/New_York", r"\b(EST|EDT)$"),
    ("pt-BR", "America/Sao_Paulo", r"\b(BRT|GMT-3)$"),
])
def test_local_times_name_their_time_zone(browser, live_server, language, zone, named):
    """The expected return, rewritten in the visitor's zone, says which zone it is in."""
    context = browser.new_context(timezone_id=zone, locale=language, extra_http_headers={"Accept-Language": language})
    try:
        live_server.activate(eta="2h")
        page = context.new_page()
        assert page.goto(f"{live_server.url}/maintenance").status == 200
        expect(page.locator("time[data-local]")).to_have_text(re.compile(named))
    finally:
        context.close()
