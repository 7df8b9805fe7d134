"""Take the README screenshots with the real app in headless Chromium.

Run from the repository root:  .venv/bin/python docs/screenshots/take.py
Writes maintenance-page.png (390x844), dashboard-idle.png and dashboard-active.png (1280x800)
and dashboard-phone.png (375x667, a window active) next to this script, from a throwaway SQLite
database; maintenance-page-branded.png is the same page with a site name, a logo and an accent
colour (docs/branding.md). Each is the first screen only: what an admin sees before scrolling.
docs/screenshots/before/ keeps the dashboard as it was before the at-a-glance redesign.
"""

from __future__ import annotations

import logging
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.support.apps import make_app  # noqa: E402
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.live_server import LIVE_OVERRIDES, LiveServer, serve, sign_in  # noqa: E402

PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 375, "height": 667}
DESKTOP = {"width": 1280, "height": 800}
MESSAGE = "We are deploying version 2: a faster checkout and better search. Thank you for your patience."
JS_COUNTDOWN = re.compile(r"^\d+ min \d\d s$")
LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="40" viewBox="0 0 160 40">'
    '<rect width="40" height="40" rx="8" fill="#0f766e"/><path d="M12 28 20 10 28 28z" fill="#fff"/>'
    '<text x="50" y="27" font-family="sans-serif" font-size="20" font-weight="700" fill="#0f766e">'
    "Acme</text></svg>"
)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(Path(tmp), **LIVE_OVERRIDES)
        url, stop = serve(app)
        server = LiveServer(app=app, url=url)
        try:
            # Some history, so the dashboard's tables are not empty.
            server.activate(message="Database upgrade", reason="database", eta="15m")
            server.end()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    shoot(browser, server)
                finally:
                    browser.close()
        finally:
            stop()
            dispose(app)
        branded(Path(tmp))


def dispose(app) -> None:
    from app.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def branded(directory: Path) -> None:
    """Shoot the maintenance page of a branded Pausa: site name, logo, accent colour."""
    brand = directory / "brand"
    (brand / "static").mkdir(parents=True)
    (brand / "static" / "logo.svg").write_text(LOGO)
    (directory / "branded").mkdir()
    app = make_app(directory / "branded", database_url=f"sqlite:///{directory / 'branded.db'}",
                   **LIVE_OVERRIDES, SITE_NAME="Acme Shop", LOGO_URL="/_pausa/brand/logo.svg",
                   ACCENT_COLOR="#0f766e", TEMPLATES_DIR=str(brand))
    url, stop = serve(app)
    server = LiveServer(app=app, url=url)
    try:
        server.activate(message="We are moving to a bigger warehouse. Your basket is safe.", eta="30m",
                        reason="database")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                visitor = browser.new_context(viewport=PHONE)
                phone = visitor.new_page()
                response = phone.goto(f"{server.url}/")
                assert response is not None and response.status == 503, "the branded page did not render"
                expect(phone.locator("#maintenance-status [data-countdown]")).to_have_text(JS_COUNTDOWN)
                phone.screenshot(path=HERE / "maintenance-page-branded.png")
                print(HERE / "maintenance-page-branded.png")
            finally:
                browser.close()
    finally:
        stop()
        dispose(app)


def shoot(browser, server: LiveServer) -> None:
    admin = browser.new_context(viewport=DESKTOP)
    page = admin.new_page()
    sign_in(page, server.url)
    page.goto(f"{server.url}/admin")
    expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
    page.screenshot(path=HERE / "dashboard-idle.png")

    page.get_by_label("Message to users").fill(MESSAGE)
    activate = page.get_by_role("region", name="Activate maintenance now")
    activate.get_by_label("Reason").select_option("deployment")
    page.get_by_label("Expected back").fill("30m")
    page.get_by_text("More options").click()
    page.get_by_label("End automatically at").fill("2h")
    page.get_by_label("qa").check()
    page.get_by_role("button", name="Activate maintenance").click()
    expect(page.locator("#status-card")).to_contain_text("Maintenance is ON")
    page.goto(f"{server.url}/admin")  # the whole dashboard, with the new window in its table
    page.evaluate("window.scrollTo(0, 0)")  # Chromium restores the scroll of the submit click
    expect(page.locator("#status-card [data-countdown]")).to_have_text(JS_COUNTDOWN)
    page.screenshot(path=HERE / "dashboard-active.png")

    small = browser.new_context(viewport=SMALL_PHONE, storage_state=admin.storage_state())
    phone_admin = small.new_page()
    phone_admin.goto(f"{server.url}/admin")
    expect(phone_admin.locator("#status-card [data-countdown]")).to_have_text(JS_COUNTDOWN)
    phone_admin.screenshot(path=HERE / "dashboard-phone.png")
    small.close()

    visitor = browser.new_context(viewport=PHONE)
    phone = visitor.new_page()
    response = phone.goto(f"{server.url}/")
    assert response is not None and response.status == 503, "the maintenance page did not render"
    expect(phone.locator("#maintenance-status [data-countdown]")).to_have_text(JS_COUNTDOWN)
    phone.screenshot(path=HERE / "maintenance-page.png")

    visitor.close()
    admin.close()
    for name in ("maintenance-page.png", "dashboard-idle.png", "dashboard-active.png", "dashboard-phone.png"):
        print(HERE / name)


if __name__ == "__main__":
    main()
