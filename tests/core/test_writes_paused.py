"""What a write refused during a drain period says, and how windows still to come count down (no server)."""

from __future__ import annotations

import json

from pausa_gate import answers
from pausa_gate.asking import Ask
from pausa_gate.decision import decide
from pausa_gate.pages import (
    COUNTDOWN,
    START_MINUTES_SLOT,
    START_SECONDS_SLOT,
    WRITES_PAUSED_MESSAGE,
    FeedPages,
    fill,
)
from pausa_gate.state import ANONYMOUS, RequestFacts
from pausa_gate.windows import upcoming_facts

from .factories import NOW, minutes, seconds, state, upcoming

# Starts in 14 min 30 s, writes paused from 20 min before; back an hour after the start.
DRAINING = upcoming(id=7, starts_at=NOW + minutes(14) + seconds(30), eta=NOW + minutes(74) + seconds(30),
                    drain_minutes=20, notice_minutes=30)
PAGES = FeedPages({"windows": {"7": {"en": {COUNTDOWN: {
    "read": "blocked read", "write": "down for maintenance: not saved",
    "drain": f"paused: starts in {START_MINUTES_SLOT} min",
    "drain_text": f"Your change was not saved: changes are paused (in {START_MINUTES_SLOT} min).",
}}}}}, (5, 5))


def answer_to(**ask_fields):
    fields = {"method": "POST", "path": "/account", "uri": "/account", **ask_fields}
    ask = Ask(**fields)
    decision = decide(RequestFacts(path=ask.path, method=ask.method), ANONYMOUS, None, state(DRAINING), NOW)
    assert decision.blocked and decision.draining
    return answers.block(ask, decision, NOW, PAGES, "/_pausa/status.json")


def test_a_write_refused_during_the_drain_gets_the_page_that_says_so():
    answer = answer_to()
    assert answer.status == 503
    assert answer.body.decode() == "paused: starts in 15 min"
    assert ("X-Pausa-Writes", "paused") in answer.headers


def test_json_names_the_pause_and_counts_to_the_start_not_the_eta():
    answer = answer_to(path="/api/items", uri="/api/items")
    body = json.loads(answer.body)
    assert body["error"] == "writes_paused"
    assert body["message"] == "Your change was not saved: changes are paused (in 15 min)."
    assert body["seconds_until_start"] == 870
    assert body["starts_at"] == DRAINING.starts_at.isoformat()
    assert body["draining"] is True


def test_htmx_is_told_why_instead_of_reloading_into_a_page_that_works():
    answer = answer_to(htmx=True)
    headers = dict(answer.headers)
    assert "HX-Refresh" not in headers
    assert headers["Content-Type"].startswith("text/plain")
    assert answer.body.decode() == "Your change was not saved: changes are paused (in 15 min)."


def test_a_feed_without_the_drain_page_falls_back_to_the_not_saved_page():
    older = FeedPages({"windows": {"7": {"en": {COUNTDOWN: {"read": "r", "write": "not saved"}}}}}, (5, 5))
    assert older.page(DRAINING, NOW, "en", blocked_write=True, draining=True) == "not saved"
    assert older.drain_text(DRAINING, NOW, "en") == WRITES_PAUSED_MESSAGE


def test_the_start_slots_count_to_the_start():
    text = f"{START_SECONDS_SLOT} s, {START_MINUTES_SLOT} min"
    assert fill(text, None, NOW, (5, 5), upcoming=DRAINING) == "870 s, 15 min"
    assert fill(text, DRAINING, NOW + minutes(14), (5, 5)) == "30 s, 1 min"  # never "0 min" before it starts


def test_a_window_still_to_come_counts_down_to_its_start():
    facts = upcoming_facts(DRAINING, NOW)
    assert facts["seconds_remaining"] == facts["seconds_until_start"] == 870
    assert facts["seconds_until_eta"] == 870 + 3600
    assert facts["draining"] is True
