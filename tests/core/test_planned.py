"""PLANNED_WINDOW: parsing and the in/out test on local wall-clock times (no app)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from app.maintenance.planned import PlannedWindow, is_within, parse_planned


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- parsing -----------------------------------------------------------------------------------


def test_parses_the_documented_example():
    planned = parse_planned("02:00-06:00 America/Sao_Paulo")
    assert planned.start == time(2, 0) and planned.end == time(6, 0)
    assert planned.zone.key == "America/Sao_Paulo"
    assert not planned.crosses_midnight
    assert str(planned) == "02:00-06:00 America/Sao_Paulo"


@pytest.mark.parametrize(
    "text, start, end, zone",
    [
        ("22:00-02:00 Europe/Berlin", time(22), time(2), "Europe/Berlin"),
        ("  9:30 - 17:45   UTC ", time(9, 30), time(17, 45), "UTC"),
        ("00:00-23:59 Asia/Kolkata", time(0), time(23, 59), "Asia/Kolkata"),
        ("22:00-24:00 America/New_York", time(22), time(0), "America/New_York"),
    ],
)
def test_parses_variants(text, start, end, zone):
    planned = parse_planned(text)
    assert (planned.start, planned.end, planned.zone.key) == (start, end, zone)


def test_crossing_midnight_is_detected():
    assert parse_planned("22:00-02:00 UTC").crosses_midnight


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "not valid"),
        ("02:00-06:00", "not valid"),  # no zone
        ("02:00 America/Sao_Paulo", "not valid"),
        ("2-6 America/Sao_Paulo", "not valid"),
        ("02:00-06:00 America/Sao_Paulo extra", "not valid"),
        ("02h00-06h00 UTC", "not valid"),
        ("25:00-06:00 UTC", "not a time of day"),
        ("02:60-06:00 UTC", "not a time of day"),
        ("02:00-24:30 UTC", "not a time of day"),
        ("02:00-02:00 UTC", "must differ"),
        ("02:00-06:00 Mars/Olympus_Mons", "unknown time zone"),
        ("02:00-06:00 ../../etc/passwd", "unknown time zone"),
    ],
)
def test_invalid_text_is_a_clear_value_error(text, fragment):
    with pytest.raises(ValueError, match="PLANNED_WINDOW") as error:
        parse_planned(text)
    assert fragment in str(error.value)


def test_non_text_is_refused():
    with pytest.raises(ValueError, match="PLANNED_WINDOW"):
        parse_planned(None)  # type: ignore[arg-type]


def test_the_error_names_the_expected_format():
    with pytest.raises(ValueError, match="HH:MM-HH:MM Area/City"):
        parse_planned("tonight")


# -- is_within ---------------------------------------------------------------------------------

SAO_PAULO = parse_planned("02:00-06:00 America/Sao_Paulo")  # UTC-3 all year since 2019


@pytest.mark.parametrize(
    "moment, inside",
    [
        (utc(2026, 3, 10, 4, 59, 59), False),  # 01:59:59 local
        (utc(2026, 3, 10, 5, 0), True),  # 02:00 local: the start is included
        (utc(2026, 3, 10, 7, 30), True),
        (utc(2026, 3, 10, 8, 59, 59), True),
        (utc(2026, 3, 10, 9, 0), False),  # 06:00 local: the end is excluded
        (utc(2026, 3, 10, 2, 0), False),  # 23:00 the day before
        (utc(2026, 3, 10, 15, 0), False),
    ],
)
def test_same_day_window(moment, inside):
    assert is_within(SAO_PAULO, moment) is inside


@pytest.mark.parametrize(
    "hour, minute, inside",
    [
        (21, 59, False),
        (22, 0, True),
        (23, 59, True),
        (0, 0, True),
        (1, 59, True),
        (2, 0, False),
        (12, 0, False),
    ],
)
def test_window_crossing_midnight(hour, minute, inside):
    planned = parse_planned("22:00-02:00 UTC")
    assert is_within(planned, utc(2026, 6, 1, hour, minute)) is inside


def test_window_ending_at_24_00():
    planned = parse_planned("22:00-24:00 UTC")
    assert is_within(planned, utc(2026, 6, 1, 23, 59, 59))
    assert not is_within(planned, utc(2026, 6, 2, 0, 0))
    assert not is_within(planned, utc(2026, 6, 1, 21, 59))


def test_other_offsets_are_converted():
    moment = datetime(2026, 3, 10, 7, 0, tzinfo=timezone(timedelta(hours=2)))  # 05:00 UTC = 02:00 SP
    assert is_within(SAO_PAULO, moment)


def test_naive_means_utc():
    assert is_within(SAO_PAULO, datetime(2026, 3, 10, 5, 0))
    assert not is_within(SAO_PAULO, datetime(2026, 3, 10, 4, 0))


def test_daylight_saving_time_follows_the_local_clock():
    # New York: EST (UTC-5) in January, EDT (UTC-4) in July; the window stays 02:00-06:00 local.
    planned = parse_planned("02:00-06:00 America/New_York")
    assert is_within(planned, utc(2026, 1, 15, 7, 0))  # 02:00 EST
    assert not is_within(planned, utc(2026, 1, 15, 6, 30))  # 01:30 EST
    assert is_within(planned, utc(2026, 7, 15, 6, 30))  # 02:30 EDT
    assert not is_within(planned, utc(2026, 7, 15, 10, 0))  # 06:00 EDT
    assert is_within(planned, utc(2026, 1, 15, 10, 59))  # 05:59 EST


def test_spring_forward_gap_day():
    # 2026-03-08 in New York: 02:00 EST jumps to 03:00 EDT; 02:00-06:00 local lasts 3 real hours.
    planned = parse_planned("02:00-06:00 America/New_York")
    assert not is_within(planned, utc(2026, 3, 8, 6, 59))  # 01:59 EST
    assert is_within(planned, utc(2026, 3, 8, 7, 0))  # 03:00 EDT (02:00 never happens)
    assert is_within(planned, utc(2026, 3, 8, 9, 59))  # 05:59 EDT
    assert not is_within(planned, utc(2026, 3, 8, 10, 0))  # 06:00 EDT


def test_fall_back_repeated_hour_day():
    # 2026-11-01 in New York: 01:00-02:00 happens twice (EDT then EST); both count for "01:00-02:00".
    planned = parse_planned("01:00-02:00 America/New_York")
    assert is_within(planned, utc(2026, 11, 1, 5, 30))  # 01:30 EDT
    assert is_within(planned, utc(2026, 11, 1, 6, 30))  # 01:30 EST (the repeat)
    assert not is_within(planned, utc(2026, 11, 1, 7, 0))  # 02:00 EST
    assert not is_within(planned, utc(2026, 11, 1, 4, 59))  # 00:59 EDT


def test_historic_brazilian_dst():
    # Sao Paulo had DST until 2019: UTC-2 in January 2019, so 02:00 local was 04:00 UTC.
    assert is_within(SAO_PAULO, utc(2019, 1, 15, 4, 0))
    assert not is_within(SAO_PAULO, utc(2019, 1, 15, 8, 0))  # 06:00 local
    assert not is_within(SAO_PAULO, utc(2026, 1, 15, 4, 0))  # 01:00 local today


def test_is_a_value_object():
    assert parse_planned("02:00-06:00 UTC") == parse_planned("2:00-6:00 UTC")
    assert isinstance(parse_planned("02:00-06:00 UTC"), PlannedWindow)
