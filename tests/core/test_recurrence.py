"""Recurring windows: parsing a spec, expanding occurrences, daylight-saving changes (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.maintenance.recurrence import (
    PLAN_AHEAD_COUNT,
    PLAN_AHEAD_DAYS,
    WEEKDAYS,
    Occurrence,
    expand,
    local_to_utc,
    occurrence_at,
    parse_rule,
    plan_ahead,
    validate_recurrence,
)
from app.maintenance.validation import ValidationError

from .factories import NOW, PROPERTY

SAO_PAULO = ZoneInfo("America/Sao_Paulo")
LISBON = ZoneInfo("Europe/Lisbon")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def rule(**overrides):
    spec = {"frequency": "weekly", "weekday": "SU", "start": "02:00", "end": "04:00",
            "time_zone": "America/Sao_Paulo"}
    spec.update(overrides)
    return parse_rule(spec)


def local(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %z")


# ---------------------------------------------------------------- parsing


def test_a_weekly_spec_parses_and_round_trips():
    parsed = rule()
    assert (parsed.frequency, parsed.weekday, parsed.week) == ("weekly", "SU", None)
    assert (parsed.start, parsed.end, parsed.time_zone) == (time(2, 0), time(4, 0), "America/Sao_Paulo")
    assert parse_rule(parsed.to_spec()) == parsed


def test_a_monthly_spec_names_its_week():
    parsed = rule(frequency="monthly", weekday="tu", week="1", time_zone="Europe/Lisbon")
    assert (parsed.weekday, parsed.week) == ("TU", 1)
    assert parsed.to_spec()["week"] == 1
    assert rule(frequency="monthly", week=-1).week == -1


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"frequency": "daily"}, "frequency"),
        ({"frequency": None}, "frequency"),
        ({"weekday": "XX"}, "weekday"),
        ({"weekday": 3}, "weekday"),
        ({"frequency": "monthly"}, "week"),
        ({"frequency": "monthly", "week": 5}, "week"),
        ({"frequency": "monthly", "week": True}, "week"),
        ({"frequency": "monthly", "week": "first"}, "week"),
        ({"week": 2}, "week"),
        ({"start": "24:00"}, "start"),
        ({"start": "2am"}, "start"),
        ({"start": None}, "start"),
        ({"end": "04:60"}, "end"),
        ({"end": "02:00"}, "end"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"time_zone": ""}, "time_zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone"),
        ({"time_zone": "Europe/Lisbon\x00"}, "time_zone"),
    ],
)
def test_a_bad_spec_names_the_field(overrides, field):
    with pytest.raises(ValidationError) as raised:
        rule(**overrides)
    assert field in raised.value.fields


def test_every_error_at_once():
    with pytest.raises(ValidationError) as raised:
        parse_rule({})
    assert set(raised.value.fields) == {"frequency", "weekday", "start", "end", "time_zone"}


def test_an_end_before_the_start_is_the_next_day():
    parsed = rule(start="23:00", end="01:00", time_zone="UTC")
    assert parsed.length == timedelta(hours=2)
    first = expand(parsed, utc("2026-03-14 00:00"), utc("2026-03-22 00:00"))
    assert first == [Occurrence(utc("2026-03-15 23:00"), utc("2026-03-16 01:00"))]


# ---------------------------------------------------------------- expanding


def test_weekly_on_sunday_in_sao_paulo():
    occurrences = expand(rule(), utc("2026-03-14 12:00"), utc("2026-04-01 00:00"))
    assert [local(o.starts_at, SAO_PAULO) for o in occurrences] == [
        "2026-03-15 02:00 -0300", "2026-03-22 02:00 -0300", "2026-03-29 02:00 -0300",
    ]
    assert all(o.ends_at - o.starts_at == timedelta(hours=2) for o in occurrences)


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        (1, ["2026-04-07", "2026-05-05", "2026-06-02"]),
        (2, ["2026-04-14", "2026-05-12", "2026-06-09"]),
        (-1, ["2026-03-31", "2026-04-28", "2026-05-26"]),
    ],
)
def test_monthly_on_a_given_tuesday_in_lisbon(week, expected):
    parsed = rule(frequency="monthly", weekday="TU", week=week, start="01:00", end="03:00",
                  time_zone="Europe/Lisbon")
    occurrences = expand(parsed, NOW, utc("2026-06-29 00:00"))
    assert [o.starts_at.astimezone(LISBON).strftime("%Y-%m-%d") for o in occurrences] == expected
    assert all(o.starts_at.astimezone(LISBON).strftime("%H:%M") == "01:00" for o in occurrences)


def test_the_bounds_are_after_and_until():
    occurrence = utc("2026-03-15 05:00")
    assert expand(rule(), occurrence, occurrence + timedelta(days=6)) == []
    assert [o.starts_at for o in expand(rule(), occurrence - timedelta(seconds=1), occurrence)] == [occurrence]
    assert expand(rule(), occurrence, occurrence - timedelta(days=30)) == []


def test_plan_ahead_takes_the_next_four_or_the_horizon_whichever_is_fewer():
    weekly = plan_ahead(rule(), NOW)
    assert len(weekly) == PLAN_AHEAD_COUNT == 4
    monthly = plan_ahead(rule(frequency="monthly", weekday="TU", week=1), NOW)
    assert len(monthly) == 2  # April and May; June 2 is past the 62-day horizon
    assert all(o.starts_at <= NOW + timedelta(days=PLAN_AHEAD_DAYS) for o in monthly)


def test_occurrence_at_finds_the_occurrence_by_its_start():
    occurrence = plan_ahead(rule(), NOW)[1]
    assert occurrence_at(rule(), occurrence.starts_at) == occurrence
    assert occurrence_at(rule(), occurrence.starts_at + timedelta(minutes=1)) is None
    assert occurrence_at(rule(weekday="MO"), occurrence.starts_at) is None


# ---------------------------------------------------------------- daylight saving


def test_sao_paulo_spring_forward_2018_keeps_the_local_times():
    """2018-11-04 00:00 became 01:00 (-03 to -02): 02:00–04:00 local stays 02:00–04:00 local."""
    occurrences = expand(rule(), utc("2018-10-27 00:00"), utc("2018-11-05 00:00"))
    assert [(local(o.starts_at, SAO_PAULO), local(o.ends_at, SAO_PAULO)) for o in occurrences] == [
        ("2018-10-28 02:00 -0300", "2018-10-28 04:00 -0300"),
        ("2018-11-04 02:00 -0200", "2018-11-04 04:00 -0200"),
    ]
    assert [o.starts_at for o in occurrences] == [utc("2018-10-28 05:00"), utc("2018-11-04 04:00")]


def test_sao_paulo_a_start_the_clocks_skip_moves_to_the_jump():
    occurrences = expand(rule(start="00:30", end="02:00"), utc("2018-11-03 00:00"), utc("2018-11-05 00:00"))
    assert occurrences == [Occurrence(utc("2018-11-04 03:00"), utc("2018-11-04 04:00"))]
    assert local(occurrences[0].starts_at, SAO_PAULO) == "2018-11-04 01:00 -0200"


def test_sao_paulo_fall_back_2019_keeps_the_local_times():
    """2019-02-17 00:00 became 2019-02-16 23:00 again (-02 to -03)."""
    occurrences = expand(rule(), utc("2019-02-09 00:00"), utc("2019-02-18 00:00"))
    assert [local(o.starts_at, SAO_PAULO) for o in occurrences] == [
        "2019-02-10 02:00 -0200", "2019-02-17 02:00 -0300",
    ]
    assert [o.starts_at for o in occurrences] == [utc("2019-02-10 04:00"), utc("2019-02-17 05:00")]


def test_sao_paulo_a_repeated_time_is_the_first_of_the_two():
    saturday = rule(weekday="SA", start="23:30", end="01:00")
    (occurrence,) = expand(saturday, utc("2019-02-15 00:00"), utc("2019-02-18 00:00"))
    assert occurrence.starts_at == utc("2019-02-17 01:30")  # 23:30 -02, the first reading
    assert occurrence.ends_at == utc("2019-02-17 04:00")  # 01:00 -03: half an hour longer that night


def test_lisbon_spring_forward_2026():
    """2026-03-29 01:00 became 02:00 (WET to WEST)."""
    parsed = rule(start="01:30", end="03:00", time_zone="Europe/Lisbon")
    (skipped,) = expand(parsed, utc("2026-03-28 00:00"), utc("2026-03-30 00:00"))
    assert local(skipped.starts_at, LISBON) == "2026-03-29 02:00 +0100"
    assert local(skipped.ends_at, LISBON) == "2026-03-29 03:00 +0100"
    usual = expand(rule(time_zone="Europe/Lisbon"), utc("2026-03-21 00:00"), utc("2026-03-30 00:00"))
    assert [local(o.starts_at, LISBON) for o in usual] == ["2026-03-22 02:00 +0000", "2026-03-29 02:00 +0100"]


def test_lisbon_both_ends_in_the_gap_keep_the_usual_length():
    parsed = rule(start="01:10", end="01:40", time_zone="Europe/Lisbon")
    (occurrence,) = expand(parsed, utc("2026-03-28 00:00"), utc("2026-03-30 00:00"))
    assert occurrence == Occurrence(utc("2026-03-29 01:00"), utc("2026-03-29 01:30"))


def test_lisbon_fall_back_2026():
    """2026-10-25 02:00 became 01:00 again (WEST to WET): 01:30 is the first 01:30."""
    parsed = rule(start="01:30", end="02:30", time_zone="Europe/Lisbon")
    (occurrence,) = expand(parsed, utc("2026-10-24 00:00"), utc("2026-10-26 00:00"))
    assert occurrence.starts_at == utc("2026-10-25 00:30")
    assert occurrence.ends_at == utc("2026-10-25 02:30")  # two hours long that night
    usual = expand(rule(time_zone="Europe/Lisbon"), utc("2026-10-17 00:00"), utc("2026-10-26 00:00"))
    assert [o.starts_at for o in usual] == [utc("2026-10-18 01:00"), utc("2026-10-25 02:00")]


def test_local_to_utc_rules():
    assert local_to_utc(datetime(2026, 3, 29, 1, 0), LISBON) == utc("2026-03-29 01:00")
    assert local_to_utc(datetime(2026, 3, 29, 1, 59), LISBON) == utc("2026-03-29 01:00")
    assert local_to_utc(datetime(2026, 3, 29, 2, 0), LISBON) == utc("2026-03-29 01:00")
    assert local_to_utc(datetime(2026, 10, 25, 1, 0), LISBON) == utc("2026-10-25 00:00")
    assert local_to_utc(datetime(2018, 11, 4, 0, 0), SAO_PAULO) == utc("2018-11-04 03:00")


# ---------------------------------------------------------------- properties

ZONES = ["America/Sao_Paulo", "Europe/Lisbon", "America/New_York", "Australia/Sydney", "Asia/Tokyo", "UTC"]
clocks = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))
specs = st.fixed_dictionaries(
    {"frequency": st.sampled_from(["weekly", "monthly"]), "weekday": st.sampled_from(WEEKDAYS),
     "week": st.sampled_from([1, 2, 3, 4, -1]), "start": clocks, "end": clocks,
     "time_zone": st.sampled_from(ZONES)}
).filter(lambda spec: spec["start"] != spec["end"])
instants = st.datetimes(min_value=datetime(2015, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


def built(spec):
    if spec["frequency"] == "weekly":
        spec = {**spec, "week": None}
    return parse_rule(spec)


@PROPERTY
@given(specs, instants)
def test_occurrences_keep_their_local_day_and_time(spec, after):
    parsed = built(spec)
    zone = ZoneInfo(parsed.time_zone)
    occurrences = expand(parsed, after, after + timedelta(days=120))
    assert occurrences, "every rule repeats within four months"
    for occurrence in occurrences:
        start = occurrence.starts_at.astimezone(zone)
        assert WEEKDAYS[start.weekday()] == parsed.weekday
        wall = datetime.combine(start.date(), parsed.start)
        moved = start.replace(tzinfo=None) - wall
        assert timedelta(0) <= moved < timedelta(hours=1)  # only a skipped time moves, to the jump
        if moved:
            assert local_to_utc(wall, zone) == occurrence.starts_at
        if parsed.frequency == "monthly" and parsed.week != -1:
            assert (start.day - 1) // 7 + 1 == parsed.week
        if parsed.week == -1:
            assert (start + timedelta(days=7)).month != start.month
        assert timedelta(0) < occurrence.ends_at - occurrence.starts_at <= parsed.length + timedelta(hours=1)
        assert occurrence.ends_at - occurrence.starts_at >= parsed.length - timedelta(hours=1)


@PROPERTY
@given(specs, instants, st.integers(1, 90), st.integers(1, 90))
def test_expanding_in_two_parts_equals_expanding_at_once(spec, after, first_days, second_days):
    parsed = built(spec)
    middle = after + timedelta(days=first_days)
    until = middle + timedelta(days=second_days)
    whole = expand(parsed, after, until)
    assert whole == expand(parsed, after, middle) + expand(parsed, middle, until)
    assert all(after < o.starts_at <= until for o in whole)
    assert [o.starts_at for o in whole] == sorted({o.starts_at for o in whole})
    assert all(earlier.ends_at <= later.starts_at for earlier, later in zip(whole, whole[1:], strict=False))


@PROPERTY
@given(specs, instants)
def test_plan_ahead_is_a_prefix_and_each_occurrence_is_found_again(spec, now):
    parsed = built(spec)
    planned = plan_ahead(parsed, now)
    assert 1 <= len(planned) <= PLAN_AHEAD_COUNT
    assert planned == expand(parsed, now, now + timedelta(days=PLAN_AHEAD_DAYS))[:PLAN_AHEAD_COUNT]
    for occurrence in planned:
        assert occurrence_at(parsed, occurrence.starts_at) == occurrence


# ---------------------------------------------------------------- a whole spec


def test_a_whole_spec_splits_into_rule_and_window_fields():
    parsed, window = validate_recurrence(
        {"frequency": "weekly", "weekday": "SU", "start": "02:00", "end": "04:00",
         "time_zone": "America/Sao_Paulo", "message": "Weekly upkeep", "reason": "database",
         "notice_minutes": "60", "drain_minutes": 5, "messages": {"pt_br": "Manutenção semanal"}},
        NOW,
    )
    assert parsed == rule()
    assert window["message"] == "Weekly upkeep" and window["reason"] == "database"
    assert (window["notice_minutes"], window["drain_minutes"]) == (60, 5)
    assert window["messages"] == {"pt-BR": "Manutenção semanal"}
    assert window["mode"] == "full"
    assert not set(window) & {"starts_at", "eta", "ends_at"}


def test_a_whole_spec_reports_every_error_and_refuses_times_of_its_own():
    with pytest.raises(ValidationError) as raised:
        validate_recurrence(
            {"frequency": "yearly", "weekday": "SU", "start": "02:00", "end": "04:00",
             "time_zone": "UTC", "reason": "lunch", "ends_at": "2h", "colour": "red"},
            NOW,
        )
    assert set(raised.value.fields) == {"frequency", "reason", "ends_at", "colour"}
