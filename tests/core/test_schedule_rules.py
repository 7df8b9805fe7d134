"""Time rules of planned windows, on a controllable clock: start, end, overlap, overdue, ceiling, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.state import Status
from pausa_gate.windows import (
    exceeds_ceiling,
    find_overlap,
    is_announced,
    is_draining,
    is_due_to_start,
    is_in_effect,
    is_overdue,
    overlaps,
    upcoming_window,
    window_in_effect,
)

from app.maintenance.validation import validate_window

from .factories import NOW, PROPERTY, minutes, seconds, state, upcoming, window

LISBON = ZoneInfo("Europe/Lisbon")


class Clock:
    """A clock the test moves by hand: nothing sleeps, nothing reads the real time."""

    def __init__(self, now: datetime):
        self.now = now

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now


def test_a_scheduled_window_walks_through_its_life_by_the_clock_alone():
    planned = upcoming(
        starts_at=NOW + minutes(60), eta=NOW + minutes(90), ends_at=NOW + minutes(120),
        notice_minutes=30, drain_minutes=5,
    )
    clock = Clock(NOW)
    timeline = []
    for step in (0, 30, 25, 5, 30, 30):  # minutes after the previous look
        now = clock.advance(minutes(step))
        timeline.append((
            is_announced(planned, now), is_draining(planned, now), is_in_effect(planned, now),
            is_due_to_start(planned, now), is_overdue(planned, now),
        ))
    assert timeline == [
        (False, False, False, False, False),  # T-60: nothing yet
        (True, False, False, False, False),   # T-30: the banner starts
        (True, True, False, False, False),    # T-5: writes refused
        (False, False, True, True, False),    # T: blocks, the worker records the start
        (False, False, True, True, True),     # T+30: the ETA passed: overdue
        (False, False, False, True, False),   # T+60: the automatic end: open again
    ]


def test_start_and_end_are_exact_to_the_second():
    planned = upcoming(starts_at=NOW, eta=None, ends_at=NOW + minutes(30))
    assert not is_in_effect(planned, NOW - seconds(1))
    assert is_in_effect(planned, NOW)
    assert is_in_effect(planned, NOW + minutes(30) - seconds(0.001))
    assert not is_in_effect(planned, NOW + minutes(30))


def test_window_in_effect_switches_between_adjacent_windows():
    first = window(id=1, status=Status.SCHEDULED, starts_at=NOW, eta=None, ends_at=NOW + minutes(30))
    second = window(id=2, status=Status.SCHEDULED, starts_at=NOW + minutes(30), eta=None, ends_at=None)
    live = state(first, second)
    assert window_in_effect(live, NOW - seconds(1)) is None
    assert window_in_effect(live, NOW).id == 1
    assert window_in_effect(live, NOW + minutes(30)).id == 2
    assert window_in_effect(live, NOW + minutes(600)).id == 2


def test_upcoming_window_ignores_cancelled_ones():
    cancelled = upcoming(id=1, status=Status.CANCELLED)
    assert upcoming_window(state(cancelled), NOW) is None
    assert upcoming_window(state(cancelled, upcoming(id=2)), NOW).id == 2


# -- overlap ------------------------------------------------------------------------------


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (at(1), at(2), 7),      # the same interval as window 7 [1, 3)
        (at(0), at(1), None),   # [0, 1) ends where window 7 starts: adjacent, no overlap
        (at(3), at(4), None),   # [3, 4) starts where window 7 ends: adjacent, no overlap
        (at(0), at(1.01), 7),   # one minute into it
        (at(2.99), at(3.5), 7),
        (at(0), None, 7),       # open-ended from before: lasts forever, so it overlaps
        (at(3), None, 9),       # open-ended from 3: reaches the open-ended window 9 at 10
        (at(5), at(10), None),  # ends where the open-ended window 9 starts
        (at(11), at(12), 9),    # inside the open-ended window 9
        (at(-5), at(0.5), None),
    ],
)
def test_find_overlap(start, end, expected):
    windows = [
        window(id=7, status=Status.SCHEDULED, starts_at=at(1), ends_at=at(3), eta=None),
        window(id=8, status=Status.CANCELLED, starts_at=at(5), ends_at=at(6), eta=None),
        window(id=10, status=Status.COMPLETED, starts_at=at(-1), ends_at=None, eta=None),
        window(id=9, status=Status.SCHEDULED, starts_at=at(10), ends_at=None, eta=None),
    ]
    clash = find_overlap(start, end, windows)
    assert (clash.id if clash else None) == expected


def test_find_overlap_skips_the_window_being_edited():
    planned = upcoming(id=3, starts_at=at(1), ends_at=at(2))
    assert find_overlap(at(1.5), at(2.5), [planned]).id == 3
    assert find_overlap(at(1.5), at(2.5), [planned], exclude_id=3) is None


def test_an_active_open_ended_window_overlaps_every_later_window():
    active = window(id=1, status=Status.ACTIVE, starts_at=NOW - minutes(5), ends_at=None)
    assert find_overlap(at(24 * 30), at(24 * 30 + 1), [active]).id == 1


ends = st.one_of(st.none(), st.integers(min_value=1, max_value=500))


@PROPERTY
@given(
    a_start=st.integers(min_value=0, max_value=500), a_len=ends,
    b_start=st.integers(min_value=0, max_value=500), b_len=ends,
)
def test_overlap_is_symmetric_and_matches_a_minute_by_minute_check(a_start, a_len, b_start, b_len):
    def interval(start, length):
        return at(start / 60), (at((start + length) / 60) if length else None)

    a, b = interval(a_start, a_len), interval(b_start, b_len)
    assert overlaps(*a, *b) == overlaps(*b, *a)
    horizon = 1200
    a_minutes = set(range(a_start, a_start + a_len if a_len else horizon))
    b_minutes = set(range(b_start, b_start + b_len if b_len else horizon))
    assert overlaps(*a, *b) == bool(a_minutes & b_minutes)


# -- overdue and ceiling ---------------------------------------------------------------------


def test_overdue_only_while_in_effect_and_after_the_eta():
    active = window(eta=NOW + minutes(20), ends_at=NOW + minutes(40))
    clock = Clock(NOW)
    assert not is_overdue(active, clock.now)
    assert is_overdue(active, clock.advance(minutes(20)))
    assert is_overdue(active, clock.advance(minutes(19)))
    assert not is_overdue(active, clock.advance(minutes(1)))  # ended by its ends_at


@pytest.mark.parametrize(
    ("started_hours_ago", "max_hours", "expected"),
    [(7.99, 8, False), (8, 8, True), (9, 8, True), (0.5, 0.5, True), (0.49, 0.5, False)],
)
def test_exceeds_ceiling(started_hours_ago, max_hours, expected):
    active = window(starts_at=NOW - timedelta(hours=started_hours_ago), eta=None)
    assert exceeds_ceiling(active, NOW, max_hours) is expected


def test_a_window_that_is_not_in_effect_never_exceeds_the_ceiling():
    ended = window(status=Status.COMPLETED, starts_at=NOW - timedelta(hours=20))
    future = upcoming(starts_at=NOW + minutes(5))
    assert not exceeds_ceiling(ended, NOW, 8)
    assert not exceeds_ceiling(future, NOW, 8)


# -- daylight saving time --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("local_start", "local_end", "real_duration"),
    [
        # Lisbon springs forward on 2026-03-29 at 01:00 (WET, +00:00) to 02:00 (WEST, +01:00):
        # 00:30 to 03:30 on the wall clock is only two real hours.
        (datetime(2026, 3, 29, 0, 30), datetime(2026, 3, 29, 3, 30), timedelta(hours=2)),
        # It falls back on 2026-10-25 at 02:00 WEST to 01:00 WET: the same wall-clock span is four.
        (datetime(2026, 10, 25, 0, 30), datetime(2026, 10, 25, 3, 30), timedelta(hours=4)),
        # No change: three hours.
        (datetime(2026, 6, 1, 0, 30), datetime(2026, 6, 1, 3, 30), timedelta(hours=3)),
    ],
)
def test_a_window_across_a_dst_change_is_stored_in_utc_with_its_exact_duration(
    local_start, local_end, real_duration
):
    start = local_start.replace(tzinfo=LISBON)
    end = local_end.replace(tzinfo=LISBON)
    now = start.astimezone(UTC) - timedelta(days=1)
    data = validate_window(
        {"starts_at": start.isoformat(), "ends_at": end.isoformat(), "eta": end.isoformat()}, now
    )
    starts_at, ends_at = data.values["starts_at"], data.values["ends_at"]
    assert starts_at.tzinfo is UTC and ends_at.tzinfo is UTC
    assert ends_at - starts_at == real_duration
    assert starts_at == start.astimezone(UTC) and ends_at == end.astimezone(UTC)

    planned = upcoming(starts_at=starts_at, ends_at=ends_at, eta=ends_at, notice_minutes=60)
    assert is_in_effect(planned, starts_at)
    assert is_in_effect(planned, starts_at + real_duration - seconds(1))
    assert not is_in_effect(planned, starts_at + real_duration)
    # The notice is 60 real minutes, even when the wall clock jumps in between.
    assert is_announced(planned, starts_at - minutes(60))
    assert not is_announced(planned, starts_at - minutes(61))


def test_the_spring_gap_local_time_still_maps_to_one_utc_instant():
    # 01:30 does not exist in Lisbon on 2026-03-29; zoneinfo (fold=0) reads it as WET, +00:00.
    ghost = datetime(2026, 3, 29, 1, 30, tzinfo=LISBON)
    data = validate_window({"starts_at": ghost.isoformat()}, ghost.astimezone(UTC) - timedelta(hours=1))
    assert data.values["starts_at"] == ghost.astimezone(UTC)
