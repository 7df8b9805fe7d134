"""What a visitor types survives the maintenance page, in a real browser (static/js/keep.js)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.live_server import sign_in

pytestmark = pytest.mark.browser

MAINTENANCE_H1 = "We’ll be right back"
ACCOUNT_H1 = "Your account"
NOTE = "Half-written note: call the bank on Monday"


def drafts(page) -> list[str]:
    """The drafts keep.js holds in this browser."""
    return page.evaluate(
        "Object.keys(localStorage).filter(function (key) { return key.indexOf('pausa.keep:') === 0; })"
    )


def test_typed_text_comes_back_after_the_page_turned_into_the_maintenance_page(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, live_server.url, role="user")
        url = f"{live_server.url}/account"
        page.goto(url)
        page.get_by_label("A note to yourself").fill(NOTE)

        live_server.activate(message="Deploying v2")
        # Nothing is done in the page from here on: its banner poll turns it into the maintenance page.
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1, timeout=10_000)
        assert page.url == url

        live_server.end()
        expect(page.get_by_role("heading", level=1)).to_have_text(ACCOUNT_H1, timeout=10_000)
        assert page.url == url
        expect(page.get_by_label("A note to yourself")).to_have_value(NOTE)
    finally:
        context.close()


def test_text_of_a_save_refused_by_maintenance_comes_back_and_is_not_sent_again(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, live_server.url, role="user")
        url = f"{live_server.url}/account"
        posts: list[str] = []
        page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
        page.goto(url)
        # The visitor presses Save before the banner's poll (15 s in production) has noticed the window:
        # take the poll away so the page cannot turn by itself first.
        page.evaluate("document.getElementById('maintenance-banner').remove()")
        page.get_by_label("A note to yourself").fill(NOTE)
        live_server.activate(message="Deploying v2")

        with page.expect_navigation():
            page.get_by_role("button", name="Save").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        expect(page.get_by_role("alert")).to_contain_text("Your change was not saved")
        expect(page.get_by_role("alert")).to_contain_text("What you typed is kept on this device")
        assert posts == [url]

        live_server.end()
        expect(page.get_by_role("heading", level=1)).to_have_text(ACCOUNT_H1, timeout=10_000)
        assert page.url == url
        expect(page.get_by_label("A note to yourself")).to_have_value(NOTE)
        assert posts == [url], "coming back must not send the refused form again"
        expect(page.get_by_text("Saved.")).to_have_count(0)

        # Sent again and accepted: the draft is forgotten, the saved note stays.
        with page.expect_navigation():
            page.get_by_role("button", name="Save").click()
        expect(page.get_by_text("Saved.")).to_be_visible()
        assert drafts(page) == []
        page.reload()
        expect(page.get_by_label("A note to yourself")).to_have_value(NOTE)
    finally:
        context.close()


def test_passwords_hidden_fields_and_opted_out_fields_are_never_kept(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/auth/login")
        page.get_by_label("Email").fill("someone@example.com")
        page.get_by_label("Password").fill("secret password")
        page.wait_for_timeout(800)  # past the save delay
        stored = page.evaluate(
            "Object.keys(localStorage).filter(function (k) { return k.indexOf('pausa.keep:') === 0; })"
            ".map(function (k) { return localStorage.getItem(k); }).join('\\n')"
        )
        assert "someone@example.com" in stored
        assert "secret password" not in stored
        assert "csrf" not in stored
    finally:
        context.close()
