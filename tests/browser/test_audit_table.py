"""The audit history at 1280×800 and at 375 px: long entries fit, action names stay whole, a bad date says so once."""

from __future__ import annotations

import re

import pytest
from pausa_gate.state import Actor
from playwright.sync_api import expect

from app.extensions import db
from app.services import audit

pytestmark = pytest.mark.browser

ACTIONS = (
    "maintenance.activated", "maintenance.deactivated", "user.password_changed",
    "auth.sessions_revoked", "notify.sent_now", "maintenance.window.extended",
)
ACTOR = "operations-lead.on-call-rotation@a-rather-long-company-name.example.com"
AGENT = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/131.0.0.0 Safari/537.36 deploy-bot/2.0+build.20260101T020000Z")
# A long message, an unbroken URL and a hash: what an operator pastes into a window.
DETAILS = {
    "before": {"message": "Upgrading the primary database cluster " * 3, "eta": None},
    "after": {
        "message": "https://status.example.com/incidents/2026-01-31/" + "a1b2c3d4" * 12,
        "eta": "2026-01-31T02:00:00+00:00",
    },
    "request_id": "f" * 64,
}

# Every action cell: does each piece between the <wbr>s sit on one line, and does it fit its cell?
ACTION_CELLS = """() => Array.from(document.querySelectorAll("#audit-results td.audit-action code")).map(code => {
  const pieces = Array.from(code.childNodes).filter(node => node.nodeType === Node.TEXT_NODE).map(node => {
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set(Array.from(range.getClientRects()).map(rect => Math.round(rect.top)));
    return {text: node.textContent, lines: tops.size};
  });
  const cell = code.closest("td");
  return {action: code.textContent, pieces: pieces, overflows: cell.scrollWidth > cell.clientWidth};
})"""

OVERFLOW = """() => {
  const table = document.querySelector("#audit-results table");
  const box = table.parentElement;
  const main = document.querySelector("main").getBoundingClientRect();
  return {
    boxScroll: box.scrollWidth, boxClient: box.clientWidth,
    tableRight: Math.round(table.getBoundingClientRect().right), mainRight: Math.round(main.right),
    pageScroll: document.documentElement.scrollWidth, viewport: window.innerWidth,
  };
}"""


@pytest.fixture(scope="module")
def long_entries(live_server):
    with live_server.app.app_context():
        for number, action in enumerate(ACTIONS):
            audit.record(action, Actor(ACTOR, "2001:db8:85a3::8a2e:370:7334", AGENT),
                         f"window:{900_000 + number}", DETAILS)
        db.session.commit()


def assert_no_horizontal_overflow(page) -> None:
    sizes = page.evaluate(OVERFLOW)
    assert sizes["boxScroll"] <= sizes["boxClient"], f"the table scrolls sideways: {sizes}"
    assert sizes["tableRight"] <= sizes["mainRight"], f"the table sticks out of the page: {sizes}"
    assert sizes["pageScroll"] <= sizes["viewport"], f"the page scrolls sideways: {sizes}"


def test_long_entries_fit_1280_and_actions_break_only_at_dots(browser, live_server, admin_storage,
                                                              console_errors, long_entries):
    context = browser.new_context(storage_state=admin_storage, viewport={"width": 1280, "height": 800})
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin/audit")
        expect(page.locator("#audit-results tbody tr").first).to_contain_text("window:900005")
        assert_no_horizontal_overflow(page)
        cells = page.evaluate(ACTION_CELLS)
        assert {cell["action"] for cell in cells} >= set(ACTIONS)
        for cell in cells:
            broken = [piece["text"] for piece in cell["pieces"] if piece["lines"] > 1]
            assert not broken, f"{cell['action']} breaks inside {broken}"
            assert not cell["overflows"], f"{cell['action']} sticks out of its cell"
        # "activated" itself is one line, whatever happens to the name around it.
        activated = [cell for cell in cells if cell["action"] == "maintenance.activated"]
        assert activated and activated[0]["pieces"][-1] == {"text": "activated", "lines": 1}
        assert console_errors.messages == []
    finally:
        context.close()


def test_phone_shows_each_entry_as_a_labelled_card(browser, live_server, admin_storage, console_errors,
                                                   long_entries):
    context = browser.new_context(storage_state=admin_storage, viewport={"width": 375, "height": 740})
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin/audit")
        expect(page.locator("#audit-results tbody tr").first).to_contain_text("window:900005")
        assert_no_horizontal_overflow(page)
        first = page.locator("#audit-results tbody tr").first
        labels = first.locator("td").evaluate_all(
            "cells => cells.map(cell => getComputedStyle(cell, '::before').content)"
        )
        assert labels[:5] == ['"#"', '"When (UTC)"', '"Actor"', '"Action"', '"Target"']
        # A card: one value under the other, each as wide as the card, beside its label.
        card = first.bounding_box()
        cells = [cell.bounding_box() for cell in first.locator("td").all()]
        assert all(cell["width"] >= card["width"] - 20 for cell in cells), (card, cells)
        assert all(lower["y"] >= upper["y"] + upper["height"] - 1 for upper, lower in zip(cells, cells[1:]))
        # The long actor wraps on a few lines, not a letter a line.
        assert first.locator("td.audit-actor").bounding_box()["height"] < 120
        for cell in page.evaluate(ACTION_CELLS):
            assert all(piece["lines"] == 1 for piece in cell["pieces"]), cell
        assert console_errors.messages == []
    finally:
        context.close()


def test_a_bad_date_says_so_once_beside_its_field_and_nothing_else_moves(browser, live_server, admin_storage,
                                                                       console_errors, long_entries):
    context = browser.new_context(storage_state=admin_storage, viewport={"width": 1280, "height": 800})
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin/audit?actor=operations-lead")
        rows = page.locator("#audit-results tbody tr")
        expect(rows).to_have_count(len(ACTIONS))
        fields = [page.get_by_label(name, exact=True) for name in ("Action", "Actor", "Since (UTC)", "Until (UTC)")]
        boxes = [field.bounding_box() for field in fields]
        url = page.url
        page.evaluate("window.__samePage = true")

        page.get_by_label("Since (UTC)").fill("yesterday-ish")
        with page.expect_response(re.compile(r"/admin/audit\?")) as answer:
            page.get_by_role("button", name="Filter").click()
        assert answer.value.status == 400
        message = page.get_by_text("Use an ISO-8601 date")
        expect(message).to_have_count(1)
        since = page.get_by_label("Since (UTC)")
        expect(since).to_have_attribute("aria-invalid", "true")
        described = since.get_attribute("aria-describedby").split()
        assert message.get_attribute("id") in described
        assert page.locator("#" + described[0]).inner_text().startswith("Use an ISO-8601 date")
        # The filter row keeps its layout: every field where it was, as wide and as tall as it
        # was (the wrong one only gains its thicker red border).
        for field, before in zip(fields, boxes, strict=True):
            after = field.bounding_box()
            assert (after["x"], after["y"], after["width"]) == (before["x"], before["y"], before["width"])
            assert before["height"] <= after["height"] <= before["height"] + 2
        # Nothing else changed: the same results, the same URL, no reload, no generic error box.
        expect(rows).to_have_count(len(ACTIONS))
        assert page.url == url and page.evaluate("window.__samePage === true")
        expect(page.locator("#request-error")).to_be_hidden()
        unexpected = [line for line in console_errors.messages if answer.value.url not in line]
        assert unexpected == []

        # Corrected, the filter applies and the message goes.
        since.fill("2020-01-01")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_text("Use an ISO-8601 date")).to_have_count(0)
        expect(page).to_have_url(re.compile(r"since=2020-01-01"))
        expect(rows).to_have_count(len(ACTIONS))

        # Without htmx (the address typed in), the page answers 400 with the one message too.
        bad = f"{live_server.url}/admin/audit?since=yesterday-ish"
        console_errors.expected_document_status[bad] = 400
        assert page.goto(bad).status == 400
        expect(page.get_by_text("Use an ISO-8601 date")).to_have_count(1)
    finally:
        context.close()
