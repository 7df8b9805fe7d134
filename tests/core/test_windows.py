"""Time rules of a window: in effect, draining, announced, overdue, Retry-After, parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.state import Mode, Reason, Status
from pausa_gate.windows import (
    RETRY_AFTER_DEFAULT,
    RETRY_AFTER_MAX,
    RETRY_AFTER_MIN,
    draining_window,
    is_announced,
    is_draining,
    is_in_effect,
    is_overdue,
    overlaps,
    parse_moment,
    public_facts,
    retry_after_seconds,
    seconds_until_eta,
    upcoming_window,
    utcnow,
    window_in_effect,
)

from .factories import (
    NOW,
    PROPERTY,
    datetimes_near_now,
    minutes,
    seconds,
    state,
    upcoming,
    window,
    window_states,
)

# ---------------------------------------------------------------- in effect


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"status": Status.SCHEDULED}, True),  # started by the clock alone, before any worker runs
        ({"status": Status.COMPLETED}, False),
        ({"status": Status.CANCELLED}, False),
        ({"starts_at": NOW}, True),
        ({"starts_at": NOW + seconds(1)}, False),
        ({"starts_at": NOW + timedelta(microseconds=1)}, False),
        ({"ends_at": NOW + seconds(1)}, True),
        ({"ends_at": NOW}, False),  # ends_at is exclusive: the auto-end happens exactly then
        ({"ends_at": NOW - minutes(1)}, False),
        ({"ends_at": None, "eta": NOW - minutes(30)}, True),  # an overdue ETA does not end it
        ({"status": Status.SCHEDULED, "starts_at": NOW - minutes(5), "ends_at": NOW - minutes(1)}, False),
    ],
    ids=[
        "active-started",
        "scheduled-start-passed",
        "completed",
        "cancelled",
        "starts-exactly-now",
        "starts-in-1s",
        "starts-in-1us",
        "ends-in-1s",
        "ends-exactly-now",
        "ended-a-minute-ago",
        "eta-passed-no-ends_at",
        "scheduled-whose-whole-span-passed",
    ],
)
def test_is_in_effect(overrides, expected):
    assert is_in_effect(window(**overrides), NOW) is expected


# ---------------------------------------------------------------- draining and announced


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"drain_minutes": 10, "starts_at": NOW + minutes(5)}, True),
        ({"drain_minutes": 10, "starts_at": NOW + minutes(10)}, True),  # drain starts inclusive
        ({"drain_minutes": 10, "starts_at": NOW + minutes(10) + seconds(1)}, False),
        ({"drain_minutes": 10, "starts_at": NOW + seconds(1)}, True),
        ({"drain_minutes": 10, "starts_at": NOW}, False),  # at the start it is in effect, not draining
        ({"drain_minutes": 10, "starts_at": NOW - minutes(1)}, False),
        ({"drain_minutes": 0, "starts_at": NOW + minutes(5)}, False),
        ({"drain_minutes": 10, "starts_at": NOW + minutes(5), "status": Status.CANCELLED}, False),
        ({"drain_minutes": 10, "starts_at": NOW + minutes(5), "status": Status.COMPLETED}, False),
        ({"drain_minutes": 10, "starts_at": NOW + minutes(5), "status": Status.ACTIVE}, False),
    ],
    ids=[
        "inside",
        "drain-begins-now",
        "one-second-before-drain",
        "last-second",
        "at-start",
        "after-start",
        "no-drain",
        "cancelled",
        "completed",
        "not-scheduled",
    ],
)
def test_is_draining(overrides, expected):
    assert is_draining(upcoming(**overrides), NOW) is expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"notice_minutes": 30}, True),  # notice begins inclusive
        ({"notice_minutes": 29}, False),
        ({"notice_minutes": 0}, False),
        ({"notice_minutes": 0, "drain_minutes": 30}, True),  # a drain announces itself
        ({"notice_minutes": 5, "drain_minutes": 45}, True),
        ({"starts_at": NOW}, False),  # in effect now, no longer "upcoming"
        ({"starts_at": NOW - minutes(1)}, False),
        ({"status": Status.CANCELLED}, False),
        ({"status": Status.COMPLETED}, False),
        ({"status": Status.ACTIVE}, False),
    ],
    ids=[
        "inside-notice",
        "notice-begins-now",
        "notice-too-short",
        "no-notice",
        "drain-only",
        "drain-longer-than-notice",
        "starts-now",
        "started",
        "cancelled",
        "completed",
        "active-status",
    ],
)
def test_is_announced(overrides, expected):
    assert is_announced(upcoming(**overrides), NOW) is expected


@PROPERTY
@given(window_states(), datetimes_near_now)
def test_a_window_is_never_both_in_effect_and_announced(w, now):
    assert not (is_in_effect(w, now) and is_announced(w, now))
    assert not (is_in_effect(w, now) and is_draining(w, now))


@PROPERTY
@given(window_states(), datetimes_near_now)
def test_draining_implies_announced(w, now):
    if is_draining(w, now):
        assert is_announced(w, now)


@PROPERTY
@given(window_states(), datetimes_near_now)
def test_ended_windows_never_count(w, now):
    from dataclasses import replace

    for status in (Status.COMPLETED, Status.CANCELLED):
        done = replace(w, status=status)
        assert not is_in_effect(done, now)
        assert not is_announced(done, now)
        assert not is_draining(done, now)
        assert not is_overdue(done, now)


# ---------------------------------------------------------------- picking windows from a state


def test_window_in_effect_picks_the_live_one():
    old = window(id=1, status=Status.COMPLETED, starts_at=NOW - minutes(60))
    live = window(id=2)
    soon = upcoming(id=3)
    assert window_in_effect(state(old, live, soon), NOW) is live
    assert window_in_effect(state(old, soon), NOW) is None
    assert window_in_effect(state(), NOW) is None


def test_upcoming_window_is_the_soonest_announced():
    later = upcoming(id=1, starts_at=NOW + minutes(50))
    sooner = upcoming(id=2, starts_at=NOW + minutes(20))
    unannounced = upcoming(id=3, starts_at=NOW + minutes(10), notice_minutes=5)
    assert upcoming_window(state(later, sooner, unannounced), NOW) is sooner
    assert upcoming_window(state(later), NOW) is later
    assert upcoming_window(state(unannounced), NOW) is None
    assert upcoming_window(state(window()), NOW) is None


def test_draining_window():
    draining = upcoming(id=2, starts_at=NOW + minutes(5), drain_minutes=10)
    assert draining_window(state(upcoming(id=1), draining), NOW) is draining
    assert draining_window(state(upcoming(id=1)), NOW) is None


# ---------------------------------------------------------------- ETA, overdue, Retry-After


@pytest.mark.parametrize(
    ("eta", "expected"),
    [
        (None, None),
        (NOW + minutes(20), 1200),
        (NOW + seconds(0.2), 1),  # rounded up: never shows 0 while time is left
        (NOW + seconds(59.001), 60),
        (NOW, 0),
        (NOW - minutes(5), 0),  # never negative
    ],
    ids=["no-eta", "20-min", "fraction-rounds-up", "59.001s", "eta-now", "eta-passed"],
)
def test_seconds_until_eta(eta, expected):
    assert seconds_until_eta(window(eta=eta), NOW) == expected


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"eta": NOW - seconds(1)}, True),
        ({"eta": NOW}, True),
        ({"eta": NOW + seconds(1)}, False),
        ({"eta": None}, False),
        ({"eta": NOW - seconds(1), "status": Status.COMPLETED}, False),
        ({"eta": NOW - seconds(1), "ends_at": NOW}, False),
        ({"eta": NOW - minutes(1), "status": Status.SCHEDULED, "starts_at": NOW + minutes(1)}, False),
    ],
    ids=["eta-passed", "eta-now", "eta-ahead", "no-eta", "completed", "auto-ended", "not-started"],
)
def test_is_overdue(overrides, expected):
    assert is_overdue(window(**overrides), NOW) is expected


@pytest.mark.parametrize(
    ("eta", "expected"),
    [
        (None, RETRY_AFTER_DEFAULT),
        (NOW + seconds(10), RETRY_AFTER_MIN),
        (NOW + seconds(29.5), 30),
        (NOW + seconds(30), 30),
        (NOW + seconds(31), 31),
        (NOW + seconds(100.1), 101),
        (NOW + seconds(3599.5), 3600),
        (NOW + seconds(3600), 3600),
        (NOW + seconds(3601), RETRY_AFTER_MAX),
        (NOW + timedelta(days=3), RETRY_AFTER_MAX),
        (NOW, RETRY_AFTER_MIN),
        (NOW - minutes(10), RETRY_AFTER_MIN),  # overdue: ask again soon
    ],
    ids=lambda value: str(value - NOW) if isinstance(value, datetime) else repr(value),
)
def test_retry_after_seconds(eta, expected):
    assert retry_after_seconds(window(eta=eta), NOW) == expected


def test_retry_after_without_a_window_is_the_default():
    assert retry_after_seconds(None, NOW) == RETRY_AFTER_DEFAULT == 300


@PROPERTY
@given(window_states(), datetimes_near_now)
def test_retry_after_is_always_within_bounds(w, now):
    assert RETRY_AFTER_MIN <= retry_after_seconds(w, now) <= RETRY_AFTER_MAX
    assert (RETRY_AFTER_MIN, RETRY_AFTER_MAX) == (30, 3600)


@PROPERTY
@given(window_states(), datetimes_near_now)
def test_seconds_until_eta_is_never_negative(w, now):
    remaining = seconds_until_eta(w, now)
    assert remaining is None if w.eta is None else remaining >= 0


# ---------------------------------------------------------------- parse_moment


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW + minutes(30)),
        ("2h", NOW + timedelta(hours=2)),
        ("45s", NOW + seconds(45)),
        ("1d", NOW + timedelta(days=1)),
        ("  10M ", NOW + minutes(10)),
        ("3 h", NOW + timedelta(hours=3)),
        ("0s", NOW),
        ("99999s", NOW + seconds(99999)),
        ("2026-03-15T02:00Z", datetime(2026, 3, 15, 2, 0, tzinfo=UTC)),
        ("2026-03-15T02:00z", datetime(2026, 3, 15, 2, 0, tzinfo=UTC)),
        ("2026-03-15T02:00:00+00:00", datetime(2026, 3, 15, 2, 0, tzinfo=UTC)),
        ("2026-03-14T23:00-03:00", datetime(2026, 3, 15, 2, 0, tzinfo=UTC)),
        ("2026-03-15T02:00", datetime(2026, 3, 15, 2, 0, tzinfo=UTC)),  # naive is read as UTC
        ("2026-03-15 02:00:30", datetime(2026, 3, 15, 2, 0, 30, tzinfo=UTC)),
        ("2026-03-15", datetime(2026, 3, 15, tzinfo=UTC)),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_parse_moment(text, expected):
    moment = parse_moment(text, NOW)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    "text",
    ["", "   ", None, "-5m", "5 minutes", "5w", "123456m", "m", "tomorrow", "2026-13-01", "30m ago", "1.5h"],
    ids=repr,
)
def test_parse_moment_rejects(text):
    with pytest.raises(ValueError):
        parse_moment(text, NOW)


@PROPERTY
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3)), timezone(timedelta(hours=5, minutes=30))]),
    )
)
def test_parse_moment_round_trips_any_aware_iso_time(moment):
    parsed = parse_moment(moment.isoformat(), NOW)
    assert parsed == moment
    assert parsed.tzinfo is UTC


# ---------------------------------------------------------------- overlaps


T = [NOW + timedelta(hours=h) for h in range(5)]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((T[0], T[2]), (T[1], T[3]), True),
        ((T[0], T[1]), (T[1], T[2]), False),  # half-open: touching is fine
        ((T[1], T[2]), (T[0], T[1]), False),
        ((T[0], T[4]), (T[1], T[2]), True),  # containment
        ((T[0], T[1]), (T[2], T[3]), False),
        ((T[0], None), (T[3], T[4]), True),  # open-ended runs forever
        ((T[3], None), (T[0], T[1]), False),
        ((T[0], None), (T[1], None), True),
        ((T[2], T[3]), (T[0], None), True),
    ],
    ids=["crossing", "touching", "touching-reversed", "contained", "apart", "open-a", "open-a-after-b",
         "both-open", "open-b"],
)
def test_overlaps(a, b, expected):
    assert overlaps(*a, *b) is expected
    assert overlaps(*b, *a) is expected  # symmetric


# ---------------------------------------------------------------- public facts


def test_public_facts_are_json_ready():
    w = window(mode=Mode.SCOPED, reason=Reason.DATABASE, scope_paths=("/billing",), eta=NOW + seconds(90))
    assert public_facts(w, NOW) == {
        "id": 1,
        "message": "Deploying v2, back soon.",
        "reason": "database",
        "mode": "scoped",
        "starts_at": "2026-03-14T11:50:00+00:00",
        "eta": "2026-03-14T12:01:30+00:00",
        "seconds_remaining": 90,
        "overdue": False,
        "retry_after": 90,
        "scope_paths": ["/billing"],
    }


def test_public_facts_overdue_and_without_eta():
    overdue = public_facts(window(eta=NOW - minutes(5)), NOW)
    assert (overdue["seconds_remaining"], overdue["overdue"], overdue["retry_after"]) == (0, True, 30)
    no_eta = public_facts(window(eta=None), NOW)
    assert (no_eta["eta"], no_eta["seconds_remaining"], no_eta["retry_after"]) == (None, None, 300)


def test_utcnow_is_aware_utc():
    assert utcnow().tzinfo is UTC
