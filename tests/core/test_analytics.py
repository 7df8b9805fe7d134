"""Downtime arithmetic against figures computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.maintenance.analytics import (
    MonthFigures,
    WindowFacts,
    clip,
    default_period,
    downtime_axis,
    month_bars,
    summarise,
    timeline_bar,
)


def at(day: int, hour: int = 0, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def window(id_, reason, start, end, eta=None, created=None):
    return WindowFacts(id_, reason, created or start, start, end, eta)


SINCE, UNTIL, NOW = at(1), at(1, month=5), at(15, month=6)

# Hand-made history (all in March/April 2026 unless said):
#  1 deployment  Mar 2 10:00-11:00 (60 min), ETA 10:30 -> overran 30 min, planned (created a day ahead)
#  2 database    Mar 5 00:00-03:00 (180 min), ETA 04:00 -> on time, unplanned
#  3 incident    Mar 31 23:00 - Apr 1 01:00 (120 min: 60 in March, 60 in April), no ETA, unplanned
#  4 deployment  Feb 28 23:30 - Mar 1 00:30: only 30 min inside the period; ETA Mar 1 00:10 -> 20 min
#  5 deployment  Apr 30 23:00 - May 1 02:00: 60 min inside (to May 1 00:00); ETA May 1 00:00 -> 120 min
#  6 other       Jan 10 (entirely before the period): ignored
HISTORY = [
    window(1, "deployment", at(2, 10), at(2, 11), eta=at(2, 10, 30), created=at(1, 10)),
    window(2, "database", at(5, 0), at(5, 3), eta=at(5, 4)),
    window(3, "incident", at(31, 23), at(1, 1, month=4)),
    window(4, "deployment", at(28, 23, 30, month=2), at(1, 0, 30), eta=at(1, 0, 10)),
    window(5, "deployment", at(30, 23, month=4), at(1, 2, month=5), eta=at(1, 0, month=5)),
    window(6, "other", at(10, 0, month=1), at(10, 5, month=1)),
]


def test_count_total_and_mean():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    assert report.count == 5
    # 60 + 180 + 120 + 30 + 60 = 450 minutes
    assert report.total == timedelta(minutes=450)
    assert report.mean == timedelta(minutes=90)
    assert [c.window.id for c in report.windows] == [4, 1, 2, 3, 5]


def test_by_reason_sorted_by_downtime():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    figures = [(r.reason, r.count, r.total) for r in report.by_reason]
    assert figures == [
        ("database", 1, timedelta(minutes=180)),
        ("deployment", 3, timedelta(minutes=150)),  # 60 + 30 + 60
        ("incident", 1, timedelta(minutes=120)),
    ]


def test_overrun_uses_the_real_end_not_the_clipped_one():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    assert report.with_eta == 4  # windows 1, 2, 4, 5
    assert report.overran == 3  # 1 (30 min), 4 (20 min), 5 (120 min)
    assert report.overran_share == pytest.approx(0.75)
    assert report.mean_overrun == timedelta(minutes=(30 + 20 + 120) / 3)
    assert report.max_overrun == timedelta(minutes=120)


def test_planned_vs_unplanned():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    assert (report.planned, report.unplanned) == (1, 4)


def test_months_split_windows_at_the_boundary():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    assert [(m.month.month, m.count, m.total) for m in report.months] == [
        (3, 4, timedelta(minutes=30 + 60 + 180 + 60)),  # windows 4, 1, 2 and March's hour of 3
        (4, 2, timedelta(minutes=60 + 60)),  # April's hour of 3, and 5
    ]


def test_ongoing_window_counts_up_to_now_and_until_is_cut_to_now():
    now = at(10, 12)
    running = window(7, "incident", at(10, 9), None, eta=at(10, 10))
    report = summarise([running], SINCE, UNTIL, now)
    assert report.until == now
    assert report.total == timedelta(hours=3)
    assert report.windows[0].ongoing
    assert report.max_overrun == timedelta(hours=2)
    # Availability over Mar 1 00:00 - Mar 10 12:00 (228 h) with 3 h down.
    assert report.availability == pytest.approx(1 - 3 / 228)


def test_empty_period():
    report = summarise([], SINCE, UNTIL, NOW)
    assert report.count == 0 and report.total == timedelta() and report.mean is None
    assert report.overran_share is None and report.mean_overrun is None and report.max_overrun is None
    assert len(report.months) == 2 and all(m.total == timedelta() for m in report.months)


def test_clip_edges():
    touching = window(8, "other", at(28, 23, month=2), at(1, 0))  # ends exactly at since
    assert clip(touching, SINCE, UNTIL, NOW) is None
    starting_at_until = window(9, "other", UNTIL, UNTIL + timedelta(hours=1))
    assert clip(starting_at_until, SINCE, UNTIL, NOW) is None
    on_time = window(10, "other", at(3), at(3, 1), eta=at(3, 1))
    assert clip(on_time, SINCE, UNTIL, NOW).overrun == timedelta()


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        summarise([], SINCE.replace(tzinfo=None), UNTIL, NOW)


def test_december_rolls_into_january():
    report = summarise([], datetime(2025, 12, 15, tzinfo=UTC), datetime(2026, 1, 15, tzinfo=UTC), NOW)
    assert [(m.month.year, m.month.month) for m in report.months] == [(2025, 12), (2026, 1)]


def test_layout_of_the_charts():
    report = summarise(HISTORY, SINCE, UNTIL, NOW)
    # Period of 61 days on 1000 units; window 1 starts 1 day 10 h in and lasts 1 h.
    first = next(c for c in report.windows if c.window.id == 1)
    x, width = timeline_bar(first, SINCE, UNTIL, 1000)
    assert x == pytest.approx(34 / (61 * 24) * 1000, abs=0.01)
    assert width == 1.0  # 0.68 units, widened to the 1-unit minimum
    months = [MonthFigures(at(1), timedelta(hours=2), 1), MonthFigures(at(1, month=4), timedelta(hours=1), 1),
              MonthFigures(at(1, month=5), timedelta(), 0)]
    bars = month_bars(months, 300, 100)
    assert [(b.x, b.y, b.width, b.height) for b in bars] == [
        (15.0, 0.0, 70.0, 100.0), (115.0, 50.0, 70.0, 50.0), (215.0, 100.0, 70.0, 0.0)
    ]
    assert month_bars([], 300, 100) == []


@pytest.mark.parametrize(
    ("largest", "unit", "ticks"),
    [
        (timedelta(), "minutes", (0, 1)),
        (timedelta(minutes=45), "minutes", (0, 20, 40, 60)),
        (timedelta(minutes=119), "minutes", (0, 50, 100, 150)),
        (timedelta(hours=2), "hours", (0, 0.5, 1, 1.5, 2)),
        (timedelta(hours=5), "hours", (0, 2, 4, 6)),
        (timedelta(hours=37), "hours", (0, 10, 20, 30, 40)),
    ],
)
def test_the_monthly_chart_axis_has_a_unit_and_round_ticks(largest, unit, ticks):
    months = [MonthFigures(at(1), largest, 1), MonthFigures(at(1, month=4), largest / 3, 1)]
    axis = downtime_axis(months)
    assert axis.unit == unit
    assert axis.ticks == pytest.approx(ticks)
    assert axis.top_seconds == pytest.approx(ticks[-1] * axis.unit_seconds)
    assert axis.top_seconds >= largest.total_seconds()
    # Bars scaled to the axis' top: 5 h on a 0-6 h axis is 5/6 of the height.
    if unit == "hours" and ticks[-1] == 6:
        assert month_bars(months, 300, 120, axis.top_seconds)[0].height == pytest.approx(100.0)


def test_default_period_is_the_last_90_days():
    since, until = default_period(NOW)
    assert until == NOW and until - since == timedelta(days=90)
