"""The countdown in a real browser: it ticks on screen, but screen readers hear it only at a few moments.

A recorder in the page notes every text change a screen reader may read out: text that changes
inside a polite or assertive live region (role status, alert or log, or aria-live), whatever live
region sits between (nested regions are read inconsistently, so a timer inside a status region
counts), and live regions that a poll swaps in with text already in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from playwright.sync_api import expect

from app.maintenance.validation import validate_window
from app.services import scheduling as scheduling_service
from tests.support.axe import assert_accessible

pytestmark = pytest.mark.browser

RECORD_LIVE_CHANGES = """() => {
  const LIVE_ROLES = {status: "polite", log: "polite", alert: "assertive", marquee: "off", timer: "off"};
  const politeness = (element) => element.getAttribute("aria-live") || LIVE_ROLES[element.getAttribute("role")] || null;
  const live = (element) => ["polite", "assertive"].includes(politeness(element));
  const inLiveRegion = (node) => {
    for (let element = node.nodeType === 1 ? node : node.parentElement; element; element = element.parentElement) {
      if (live(element)) return true;
    }
    return false;
  };
  const filledRegions = (node) => {
    if (node.nodeType !== 1) return [];
    const regions = [node, ...node.querySelectorAll("*")].filter(live);
    return regions.map((region) => region.textContent.trim()).filter(Boolean);
  };
  window.liveChanges = [];
  new MutationObserver((records) => {
    for (const record of records) {
      if (inLiveRegion(record.target)) {
        const region = record.target.nodeType === 1 ? record.target : record.target.parentElement;
        const words = region.textContent.trim();
        if (words) window.liveChanges.push(words);  // emptying a region says nothing
      } else {
        record.addedNodes.forEach((node) => window.liveChanges.push(...filledRegions(node)));
      }
    }
  }).observe(document.documentElement, {subtree: true, childList: true, characterData: true});
}"""

ACTIVE_ETA = "30m"
# What app.js writes: "29 min 58 s", "1 h 04 min" (the server's "30 min" or "29 min" is replaced at once).
JS_TEXT = re.compile(r"^\d+ (min \d\d s|h \d\d min)$")
# A window this many seconds ahead leaves a loaded machine about 15 s to bring the page up before
# the one-minute mark.
MINUTE_MARK_LEAD = 76
PAST_THE_MARK = re.compile(r"^([0-9]|[1-4][0-9]|50) s$")


@contextmanager
def planned_window(live_server, starts_in: timedelta) -> Iterator[int]:
    """Plan a window starting in `starts_in`, announced from now on; cancel it afterwards."""
    now = utcnow()
    starts_at = now + starts_in
    with live_server.app.app_context():
        data = validate_window(
            {
                "message": "Planned upgrade", "reason": "database", "notice_minutes": 120,
                "starts_at": starts_at.isoformat(), "eta": (starts_at + timedelta(minutes=20)).isoformat(),
            },
            now,
        )
        window_id = scheduling_service.schedule_window(data, Actor("admin@example.com"), now).id
    try:
        yield window_id
    finally:
        with live_server.app.app_context():
            scheduling_service.cancel_window(window_id, Actor("admin@example.com"))


def assert_quiet_while_ticking(page, countdown_selector: str) -> None:
    """Over about three seconds the visible countdown ticks, and no live region says anything."""
    countdown = page.locator(countdown_selector).first
    expect(countdown).to_have_text(JS_TEXT)
    page.evaluate(RECORD_LIVE_CHANGES)
    before = countdown.text_content()
    page.wait_for_timeout(3_200)
    assert countdown.text_content() != before, f"the countdown is stuck at {before!r}"
    changes = page.evaluate("window.liveChanges")
    assert changes == [], f"screen readers are made to read while nothing meaningful changed: {changes}"



def test_maintenance_page_countdown_ticks_without_being_read_out(browser, live_server):
    live_server.activate(eta=ACTIVE_ETA)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")  # its poll swaps the status every second here
        assert_quiet_while_ticking(page, "#maintenance-status [data-countdown]")
        expect(page.locator("#maintenance-status [data-countdown]")).to_have_attribute("aria-live", "off")
    finally:
        context.close()
        live_server.end()


def test_dashboard_status_card_countdown_ticks_without_being_read_out(browser, live_server, admin_storage):
    live_server.activate(eta=ACTIVE_ETA)
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        # The form's preview loads after the page into its own live region (time and countdown):
        # that is the page settling, not the ticking under test, so record once it is there.
        expect(page.locator("#maintenance-preview [data-countdown]")).to_have_text(JS_TEXT)
        assert_quiet_while_ticking(page, "#status-card [data-countdown]")
    finally:
        context.close()
        live_server.end()


def test_status_page_and_banner_countdowns_to_a_planned_start_tick_without_being_read_out(browser, live_server):
    with planned_window(live_server, timedelta(minutes=40)):
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{live_server.url}/maintenance")
            expect(page.get_by_role("heading", level=1)).to_have_text("Maintenance is planned")
            assert_quiet_while_ticking(page, "#maintenance-status [data-countdown]")

            page.goto(f"{live_server.url}/")  # the demo site's home: the banner polls every second
            assert_quiet_while_ticking(page, "#maintenance-banner [data-countdown]")
        finally:
            context.close()


def seconds_left(countdown) -> int:
    """Read the seconds a countdown shows ("1 min 14 s", "52 s")."""
    text = countdown.text_content()
    shown = re.fullmatch(r"(?:(\d+) min )?(\d+) s", text)
    assert shown, f"the countdown shows {text!r}, not minutes and seconds"
    return int(shown[1] or 0) * 60 + int(shown[2])


def wait_past_the_minute_mark(page, countdown) -> None:
    """Start recording before the countdown crosses one minute, then wait until it is well past it.

    The window is set far enough ahead for a slow machine; if the page still came up after the mark,
    the test cannot see the announcement and says so, instead of failing on an empty list.
    """
    expect(countdown).to_have_attribute("data-started", "1")  # app.js counts it down
    page.evaluate(RECORD_LIVE_CHANGES)
    left = seconds_left(countdown)
    if left <= 60:
        pytest.fail(f"the page came up with {left} s left: too late to hear the one-minute mark (machine too busy?)")
    # The poll swaps a fresh countdown in now and then, a second off: any value from 50 s down will do.
    expect(countdown).to_have_text(PAST_THE_MARK, timeout=(left - 50 + 15) * 1000)


def test_the_time_left_is_announced_once_when_it_crosses_a_minute(browser, live_server):
    live_server.activate(eta=f"{MINUTE_MARK_LEAD}s")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")  # the status poll swaps a fresh countdown in every second
        wait_past_the_minute_mark(page, page.locator("#maintenance-status [data-countdown]"))
        assert page.evaluate("window.liveChanges") == ["Expected back in 1 minute."]
    finally:
        context.close()
        live_server.end()


def test_the_dashboard_announces_once_that_maintenance_starts_in_a_minute(browser, live_server, admin_storage):
    with planned_window(live_server, timedelta(seconds=MINUTE_MARK_LEAD)):
        context = browser.new_context(storage_state=admin_storage)
        try:
            page = context.new_page()
            page.goto(f"{live_server.url}/admin")  # the status card is swapped every 5 s
            wait_past_the_minute_mark(page, page.locator("#status-card [data-countdown]"))
            assert page.evaluate("window.liveChanges") == ["Maintenance starts in 1 minute."]
        finally:
            context.close()


def test_a_banner_that_arrives_is_announced_once(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        expect(page.locator("#maintenance-banner .banner")).to_have_count(0)
        page.evaluate(RECORD_LIVE_CHANGES)
        with planned_window(live_server, timedelta(minutes=40)):
            expect(page.locator("#maintenance-banner [data-countdown]")).to_have_text(JS_TEXT, timeout=5_000)
            page.wait_for_timeout(3_200)  # three more polls bring the same words
            assert_accessible(page, "the home page with a banner that was announced")
        changes = page.evaluate("window.liveChanges")
        assert len(changes) == 1, changes
        assert re.match(r"Save your work: maintenance starts in (39|40) min \d\d s\. Unsent form input is kept", changes[0])
    finally:
        context.close()


def test_the_dashboard_preview_shows_the_time_left_without_ticking_in_its_live_region(
    browser, live_server, admin_storage
):
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin")
        page.get_by_role("region", name="Activate maintenance now").get_by_label("Expected back").fill("30m")
        countdown = page.locator("#maintenance-preview [data-countdown]")
        expect(countdown).to_have_text(JS_TEXT)  # the preview is read out as the admin types: once is enough
        page.evaluate(RECORD_LIVE_CHANGES)
        page.wait_for_timeout(2_200)
        assert page.evaluate("window.liveChanges") == []
    finally:
        context.close()


# A sentence swapped into #main the way a poll brings one: app.js hears htmx:load on it.
SAY_SENTENCE = """([key, words]) => {
  const sentence = document.createElement("p");
  sentence.setAttribute("data-live-text", key);
  sentence.textContent = words;
  document.getElementById("main").append(sentence);
  sentence.dispatchEvent(new CustomEvent("htmx:load", {bubbles: true}));
}"""


def test_announcements_go_on_after_back_restores_the_audit_page(browser, live_server, admin_storage):
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/audit")
        page.locator("#action").fill("maintenance")
        page.locator("#audit-filter-submit").click()
        expect(page).to_have_url(re.compile(r"/admin/audit\?action=maintenance"))
        # Back: htmx keeps no copy of the page, so it asks the server again and replaces <body>'s content.
        with page.expect_response(lambda answer: answer.request.headers.get("hx-history-restore-request") == "true"):
            page.go_back()
        expect(page).to_have_url(f"{live_server.url}/admin/audit")
        expect(page.locator("#action")).to_have_value("")
        # The restored page loads the chain check into its own status region: a real announcement,
        # not the one under test, so recording starts once it is in.
        expect(page.locator("#chain-status .chain-ok")).to_be_visible()
        page.evaluate(RECORD_LIVE_CHANGES)
        # Admin pages show no banner: a sentence swapped in the way a poll does it stands in for one.
        page.evaluate(SAY_SENTENCE, ["after-back", "Something new to say."])
        expect(page.locator("#main [data-announcer]")).to_have_text("Something new to say.")
        expect(page.locator("[data-announcer]")).to_have_count(1)
        assert page.evaluate("window.liveChanges") == ["Something new to say."]
    finally:
        context.close()


# The same words come again (the announcer empties itself, to say them again 100 ms later), and
# newer words arrive the moment it is empty. Resolves with what the announcer says once both were
# written: the page's own timers order it all, so a busy machine changes nothing.
SAME_WORDS_THEN_NEWER = """() => new Promise((resolve) => {
  const announcer = document.querySelector("[data-announcer]");
  const say = (key, words) => {
    const sentence = document.createElement("p");
    sentence.setAttribute("data-live-text", key);
    sentence.textContent = words;
    document.getElementById("main").append(sentence);
    sentence.dispatchEvent(new CustomEvent("htmx:load", {bubbles: true}));
  };
  const watcher = new MutationObserver(() => {
    if (announcer.textContent !== "") return;
    watcher.disconnect();
    say("race-newer", "The newer words.");
    setTimeout(() => resolve(announcer.textContent), 400);
  });
  watcher.observe(announcer, {childList: true, characterData: true, subtree: true});
  say("race-again", "The same words.");
})"""


def test_newer_words_are_not_overwritten_by_older_words_said_again(browser, live_server):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/")
        announcer = page.locator("#main [data-announcer]")
        expect(announcer).to_have_count(1)
        page.evaluate(SAY_SENTENCE, ["race-first", "The same words."])
        expect(announcer).to_have_text("The same words.")
        page.evaluate(RECORD_LIVE_CHANGES)
        assert page.evaluate(SAME_WORDS_THEN_NEWER) == "The newer words."
        assert page.evaluate("window.liveChanges") == ["The newer words."]
    finally:
        context.close()
