"""Take the README screenshots with the real app in headless Chromium.

Run from the repository root:  .venv/bin/python docs/screenshots/take.py
Writes maintenance-page.png (390x844), dashboard-idle.png and dashboard-active.png (1280x900)
next to this script, from a throwaway SQLite database.
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

from tests.browser.conftest import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    LIVE_OVERRIDES,
    LiveServer,
    serve,
    sign_in,
)
from tests.conftest import make_app  # noqa: E402

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MESSAGE = "We are deploying version 2: a faster checkout and better search. Thank you for your patience."
JS_COUNTDOWN = re.compile(r"^\d+ min \d\d s$")


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        app = make_app(f"sqlite:///{Path(tmp) / 'pausa.db'}", **LIVE_OVERRIDES)
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
            from app.extensions import db

            with app.app_context():
                db.session.remove()
                db.engine.dispose()


def shoot(browser, server: LiveServer) -> None:
    admin = browser.new_context(viewport=DESKTOP)
    page = admin.new_page()
    sign_in(page, server.url)
    page.goto(f"{server.url}/admin")
    expect(page.locator("#status-card")).to_contain_text("Maintenance is off")
    page.screenshot(path=HERE / "dashboard-idle.png")

    page.get_by_label("Message to users").fill(MESSAGE)
    page.get_by_label("Reason").select_option("deployment")
    page.get_by_label("Expected back").fill("30m")
    page.get_by_label("qa").check()
    page.get_by_role("button", name="Activate maintenance").click()
    expect(page.locator("#status-card")).to_contain_text("Maintenance is ON")
    page.goto(f"{server.url}/admin")  # the whole dashboard, with the new window in its table
    page.evaluate("window.scrollTo(0, 0)")  # Chromium restores the scroll of the submit click
    expect(page.locator("#status-card [data-countdown]")).to_have_text(JS_COUNTDOWN)
    page.screenshot(path=HERE / "dashboard-active.png")

    visitor = browser.new_context(viewport=PHONE)
    phone = visitor.new_page()
    response = phone.goto(f"{server.url}/")
    assert response is not None and response.status == 503, "the maintenance page did not render"
    expect(phone.locator("#maintenance-status [data-countdown]")).to_have_text(JS_COUNTDOWN)
    phone.screenshot(path=HERE / "maintenance-page.png")

    visitor.close()
    admin.close()
    for name in ("maintenance-page.png", "dashboard-idle.png", "dashboard-active.png"):
        print(HERE / name)


if __name__ == "__main__":
    main()
