"""The pages and the feed a host app's gate answers from, with no server at all."""

from __future__ import annotations

import pytest
from pausa_gate import document, feed
from pausa_gate.languages import choose_language
from pausa_gate.pages import (
    BUILT_IN_PAGE,
    COUNTDOWN,
    MINUTES_SLOT,
    OVERDUE,
    PLAIN,
    POLL_SLOT,
    SECONDS_SLOT,
    FeedPages,
    fill,
    slotted_facts,
    variant,
)
from pausa_gate.state import unknown_state

from .factories import NOW, minutes, seconds, state, window

SLOTTED = f'<span data-seconds="{SECONDS_SLOT}">{MINUTES_SLOT} min</span><meta content="{POLL_SLOT}">'


@pytest.mark.parametrize(
    ("label", "the_window", "expected"),
    [
        ("no window", None, PLAIN),
        ("no eta", window(eta=None), PLAIN),
        ("eta ahead", window(), COUNTDOWN),
        ("eta passed", window(eta=NOW - minutes(1)), OVERDUE),
        ("nothing known", unknown_state().windows[0], PLAIN),
    ],
)
def test_each_moment_has_one_page_variant(label, the_window, expected):
    assert variant(the_window, NOW) == expected


def test_filling_gives_each_answer_its_own_numbers():
    the_window = window(eta=NOW + minutes(20) + seconds(5))
    filled = fill(SLOTTED, the_window, NOW, (5, 5))
    assert filled == '<span data-seconds="1205">20 min</span><meta content="5">'
    later = fill(SLOTTED, the_window, NOW + minutes(10), (5, 30))
    assert 'data-seconds="605">10 min' in later


def test_the_page_says_the_message_written_for_its_language_else_the_default():
    translated = window(message="Deploying", messages=(("pt-BR", "Implantando"),))
    assert slotted_facts(translated, NOW, COUNTDOWN, "pt_BR")["message"] == "Implantando"
    assert slotted_facts(translated, NOW, COUNTDOWN, "en")["message"] == "Deploying"
    untranslated = window(message="Deploying")
    assert slotted_facts(untranslated, NOW, COUNTDOWN, "pt_BR")["message"] == "Deploying"
    assert slotted_facts(untranslated, NOW, COUNTDOWN, "en")["message"] == "Deploying"


def test_feed_pages_fall_back_to_english_then_to_the_generic_page():
    the_window = window(id=4)
    pages = FeedPages({
        "windows": {"4": {"en": {COUNTDOWN: {"read": "en " + SLOTTED, "write": "not saved"}}}},
        "unavailable": {"pt_BR": {"message": "Indisponível", "read": "pt generic " + POLL_SLOT}},
    }, (5, 5))
    assert pages.page(the_window, NOW, "pt_BR").startswith("en <span")
    assert pages.page(the_window, NOW, "en", blocked_write=True) == "not saved"
    assert pages.page(window(id=9), NOW, "pt_BR") == "pt generic 5"
    assert "right back" in pages.page(window(id=9), NOW, "en")  # the built-in page, English
    assert pages.unavailable_message("pt_BR") == "Indisponível"
    assert "temporarily unavailable" in pages.unavailable_message("en")
    assert POLL_SLOT in BUILT_IN_PAGE


def test_a_feed_round_trips_and_refuses_what_it_cannot_trust():
    data = feed.build(document.to_document(state(window())), allowlist=("/hooks", "/_pausa"), prefix="/_pausa",
                      status_url="/_pausa/status.json", poll_range=(5, 30), fail_mode="closed", pages={})
    parsed = feed.Feed.from_json(feed.dumps(data))
    assert parsed.state.windows == state(window()).windows
    assert parsed.allowlist == ("/hooks", "/_pausa") and parsed.poll_range == (5, 30)
    assert parsed.etag == feed.etag_of(data) and parsed.etag.startswith('"1-')
    for broken in ("", "[]", '{"format": 2}', feed.dumps({**data, "gate": {}}),
                   feed.dumps({**data, "gate": {**data["gate"], "fail_mode": "ajar"}}),
                   feed.dumps({**data, "state": {"format": 9}})):
        with pytest.raises(feed.FeedError):
            feed.Feed.from_json(broken)


@pytest.mark.parametrize(("fail_mode", "blocks"), [("closed", True), ("open", False)])
def test_knowing_nothing_follows_the_fail_mode(fail_mode, blocks):
    unknown = feed.Feed.unknown(fail_mode)
    assert bool(unknown.state.windows) is blocks
    assert unknown.state.unknown is blocks and unknown.state.stale
    assert unknown.allowlist == ("/_pausa",)


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [("pt-BR,pt;q=0.9", None, "pt_BR"), ("en-US,en;q=0.9", None, "en"), ("fr", None, "en"),
     ("fr, pt;q=0.5", None, "pt_BR"), ("pt;q=0, en", None, "en"), ("", "pt_BR", "pt_BR"),
     ("pt-BR", "en", "en"), ("pt-BR", "xx", "pt_BR"), ("*", None, "en")],
)
def test_the_language_is_the_cookies_then_the_browsers(accept, cookie, expected):
    assert choose_language(accept, cookie) == expected
