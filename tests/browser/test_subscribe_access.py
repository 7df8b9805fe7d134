"""The subscribe forms for people on a screen reader, on a keyboard, or without JavaScript."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support.axe import assert_accessible, assert_accessible_without_javascript

from .test_maintenance_flow import MAINTENANCE_H1

pytestmark = pytest.mark.browser

SUBSCRIBE_H = "Email me when it’s back"
FOCUSED = "document.activeElement"

# Both subscribe sections share the email form and app.js's focus hook.
SECTIONS = {
    "maintenance page": ("/?from=focus", "/_pausa/subscribe", "#subscribe", "Notify me",
                         "we will send one email to {email}"),
    "status page": ("/status", "/status/subscribe", "#standing-subscribe", "Subscribe", "we sent a link to {email}"),
}


def focused(page) -> dict:
    """Describe the focused element: tag, id, role, text and what describes it."""
    return page.evaluate(f"""() => {{
      const node = {FOCUSED};
      const described = (node.getAttribute("aria-describedby") || "").split(" ").filter(Boolean)
        .map((id) => document.getElementById(id)).filter(Boolean);
      return {{tag: node.tagName.toLowerCase(), id: node.id, role: node.getAttribute("role"),
              text: node.innerText || "", invalid: node.getAttribute("aria-invalid"),
              described: described.map((item) => ({{role: item.getAttribute("role"), text: item.innerText}}))}};
    }}""")


def slowed_down(context, url: str):
    """Open `url` in a new page whose refresh waits ten minutes, so axe can read it before it reloads."""
    page = context.new_page()

    def slow_refresh(route) -> None:
        response = route.fetch()
        body = response.text().replace('http-equiv="refresh" content="1"', 'http-equiv="refresh" content="600"')
        assert 'content="600"' in body
        route.fulfill(response=response, body=body)

    page.route(url, slow_refresh)
    page.goto(url)
    return page


@pytest.mark.parametrize("where", SECTIONS)
def test_the_answer_takes_the_focus_so_it_is_read_out(browser, live_server, console_errors, where):
    path, action, section, button, confirmation = SECTIONS[where]
    live_server.activate(message="Deploying v2")
    context = browser.new_context()
    try:
        page = console_errors.watch(context.new_page())
        console_errors.expected_document_status[f"{live_server.url}{path}"] = 503
        console_errors.expected_document_status[f"{live_server.url}{action}"] = 422  # the refused address
        page.goto(f"{live_server.url}{path}")
        assert focused(page)["tag"] == "body", "nothing takes the focus as the page loads"

        # An address the browser lets through but the server refuses: the field comes back focused,
        # marked invalid, with the error it is described by announced as an alert.
        field = page.locator(f"{section} input[type=email]")  # a locator: it finds the swapped-in field too
        field.fill("ana@localhost")
        page.locator(section).get_by_role("button", name=button).click()
        expect(page.locator(f"{section} [role=alert]")).to_contain_text("Enter a valid email address")
        expect(field).to_be_focused()
        answer = focused(page)
        assert answer["invalid"] == "true"
        assert {"role": "alert", "text": "Enter a valid email address, like name@example.com."} in answer["described"]
        assert_accessible(page, f"{where}, address refused")

        # From the keyboard, as someone on a screen reader would: the confirmation is focused.
        field.fill("focus@example.com")
        page.locator(section).get_by_role("button", name=button).press("Enter")
        expected = confirmation.format(email="focus@example.com")
        status = page.locator(f"{section} [role=status]")
        expect(status).to_contain_text(expected)
        expect(status).to_be_focused()
        assert expected in focused(page)["text"]
        assert_accessible(page, f"{where}, subscribed")
        assert console_errors.messages == []
    finally:
        context.close()


def test_without_javascript_the_address_is_typed_on_a_page_that_does_not_reload(browser, live_server):
    live_server.activate(message="Deploying v2 (no script)")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        assert page.goto(f"{live_server.url}/checkout?x=1").status == 503
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        # The page reloads every second here (LIVE_OVERRIDES): its own form would lose the typing, so
        # static/css/noscript.css hides it.
        expect(page.locator("#subscribe-email")).to_be_hidden()
        link = page.get_by_role("link", name="Enter your email address on a page that does not reload")
        expect(link).to_be_visible()
        url = page.url
        page.close()
        page = slowed_down(context, url)
        # The whole page, but axe's meta-refresh rule (WCAG 2.2.1 flags any timed reload): reloading is
        # how this page brings a visitor without JavaScript back (docs/accessibility.md).
        assert 'http-equiv="refresh"' in page.content()
        assert_accessible_without_javascript(page, "maintenance page without JavaScript", excused=("meta-refresh",))
        with pytest.raises(AssertionError, match="meta-refresh"):
            assert_accessible_without_javascript(page, "the reload is still seen by axe")

        page.get_by_role("link", name="Enter your email address on a page that does not reload").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(SUBSCRIBE_H)
        assert page.url == f"{live_server.url}/_pausa/subscribe"
        expect(page.get_by_role("link", name="Back to the page you were on")).to_have_attribute("href", "/checkout?x=1")
        assert_accessible_without_javascript(page, "subscribe page without JavaScript")
        field = page.get_by_label("Your email address")
        field.fill("typist@exa")
        page.wait_for_timeout(3_000)  # three of the maintenance page's reloads
        expect(field).to_have_value("typist@exa")

        field.press_sequentially("mple.com")
        with page.expect_navigation():
            page.get_by_role("button", name="Notify me").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(SUBSCRIBE_H)
        expect(page.get_by_role("status")).to_contain_text("we will send one email to typist@example.com")
        # Back to the page they were blocked on, which reloads by itself until the site is back.
        back = page.get_by_role("link", name="Back to the page you were on")
        expect(back).to_have_attribute("href", "/checkout?x=1")
        assert_accessible_without_javascript(page, "confirmation without JavaScript")
        with page.expect_navigation():
            back.click()
        assert page.url == f"{live_server.url}/checkout?x=1"
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
    finally:
        context.close()
