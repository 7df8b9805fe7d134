"""Downtime arithmetic for a period: windows in, figures out (pure; no Flask, no database).

Every window is clipped to the period [since, until): only the part inside counts as
downtime, and a window still running counts up to `now`. Overrun compares the window's real
end (or `now` while it runs) with its ETA, unclipped: a window that overran is a fact about
the window, not about the period.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# A window counts as planned when it was scheduled at least this long before it started.
PLANNED_LEAD = timedelta(minutes=1)


@dataclass(frozen=True)
class WindowFacts:
    """What analytics needs from one window that ran (started_at set)."""

    id: int
    reason: str
    created_at: datetime
    started_at: datetime
    ended_at: datetime | None
    eta: datetime | None
    started_by: str | None = None

    @property
    def planned(self) -> bool:
        return self.started_at - self.created_at >= PLANNED_LEAD


@dataclass(frozen=True)
class ClippedWindow:
    window: WindowFacts
    start: datetime
    end: datetime
    ongoing: bool
    overrun: timedelta | None  # None when the window has no ETA; zero when on time

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class ReasonFigures:
    reason: str
    count: int
    total: timedelta


@dataclass(frozen=True)
class MonthFigures:
    month: datetime  # first instant of the month, UTC
    total: timedelta
    count: int


@dataclass
class Report:
    since: datetime
    until: datetime
    windows: list[ClippedWindow] = field(default_factory=list)
    by_reason: list[ReasonFigures] = field(default_factory=list)
    months: list[MonthFigures] = field(default_factory=list)
    with_eta: int = 0
    overran: int = 0
    mean_overrun: timedelta | None = None
    max_overrun: timedelta | None = None
    planned: int = 0
    unplanned: int = 0

    @property
    def count(self) -> int:
        return len(self.windows)

    @property
    def total(self) -> timedelta:
        return sum((w.duration for w in self.windows), timedelta())

    @property
    def mean(self) -> timedelta | None:
        return self.total / self.count if self.windows else None

    @property
    def overran_share(self) -> float | None:
        """Share of the windows that had an ETA and ended (or still run) after it."""
        return self.overran / self.with_eta if self.with_eta else None

    @property
    def period(self) -> timedelta:
        return self.until - self.since

    @property
    def availability(self) -> float:
        """Share of the period (up to now) without downtime."""
        span = self.period.total_seconds()
        return 1.0 - self.total.total_seconds() / span if span > 0 else 1.0


def month_start(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def clip(window: WindowFacts, since: datetime, until: datetime, now: datetime) -> ClippedWindow | None:
    """Return the part of the window inside [since, until), or None when it lies outside."""
    real_end = window.ended_at or now
    start, end = max(window.started_at, since), min(real_end, until)
    if end <= start:
        return None
    overrun = None if window.eta is None else max(real_end - window.eta, timedelta())
    return ClippedWindow(window, start, end, window.ended_at is None, overrun)


def summarise(windows: Iterable[WindowFacts], since: datetime, until: datetime, now: datetime) -> Report:
    """Compute the period's figures; `until` beyond `now` is cut to `now` (nothing happened yet)."""
    if since.tzinfo is None or until.tzinfo is None or now.tzinfo is None:
        raise ValueError("aware datetimes only")
    until = min(until, max(now, since))
    report = Report(since=since, until=until)
    clipped = [c for c in (clip(w, since, until, now) for w in windows) if c is not None]
    clipped.sort(key=lambda c: (c.start, c.window.id))
    report.windows = clipped

    reasons: dict[str, list[ClippedWindow]] = {}
    for c in clipped:
        reasons.setdefault(c.window.reason, []).append(c)
    report.by_reason = sorted(
        (ReasonFigures(reason, len(items), sum((c.duration for c in items), timedelta()))
         for reason, items in reasons.items()),
        key=lambda figures: (-figures.total, figures.reason),
    )

    overruns = [c.overrun for c in clipped if c.overrun is not None]
    positive = [o for o in overruns if o > timedelta()]
    report.with_eta = len(overruns)
    report.overran = len(positive)
    report.mean_overrun = sum(positive, timedelta()) / len(positive) if positive else None
    report.max_overrun = max(positive) if positive else None
    report.planned = sum(1 for c in clipped if c.window.planned)
    report.unplanned = len(clipped) - report.planned

    months: list[MonthFigures] = []
    cursor = month_start(since)
    while cursor < until:
        following = next_month(cursor)
        low, high = max(cursor, since), min(following, until)
        total, count = timedelta(), 0
        for c in clipped:
            part = min(c.end, high) - max(c.start, low)
            if part > timedelta():
                total += part
                count += 1
        months.append(MonthFigures(cursor, total, count))
        cursor = following
    report.months = months
    return report


@dataclass(frozen=True)
class Bar:
    """A rectangle of a chart, in SVG user units."""

    x: float
    y: float
    width: float
    height: float


def timeline_bar(
    c: ClippedWindow, since: datetime, until: datetime, width: float, min_width: float = 1.0
) -> tuple[float, float]:
    """Return (x, width) of a window on a timeline `width` units wide spanning [since, until)."""
    span = (until - since).total_seconds() or 1.0
    x = (c.start - since).total_seconds() / span * width
    w = max((c.end - c.start).total_seconds() / span * width, min_width)
    return round(min(x, width - min_width), 2), round(w, 2)


@dataclass(frozen=True)
class Axis:
    """The value axis of the monthly chart: a unit, a round top and the ticks up to it."""

    unit: str  # "hours" or "minutes"
    unit_seconds: int
    top_seconds: float
    ticks: tuple[float, ...]  # in the unit, from 0 to the top


def _round_step(raw: float) -> float:
    """The smallest of 1, 2, 5 (times a power of ten) at or above `raw`."""
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if raw <= factor * power)


def downtime_axis(months: list[MonthFigures], ticks: int = 4) -> Axis:
    """Choose the unit (minutes while the largest month is under 2 h) and a round top above it."""
    largest = max((m.total.total_seconds() for m in months), default=0.0)
    unit, unit_seconds = ("minutes", 60) if largest < 2 * 3600 else ("hours", 3600)
    value = largest / unit_seconds
    step = _round_step(value / ticks) if value > 0 else 1.0
    count = max(1, math.ceil(round(value / step, 9)))
    return Axis(unit, unit_seconds, count * step * unit_seconds, tuple(step * i for i in range(count + 1)))


def month_bars(
    months: list[MonthFigures], width: float, height: float, top_seconds: float | None = None
) -> list[Bar]:
    """Lay out one bar per month, heights scaled to `top_seconds` (default: the largest month)."""
    if not months:
        return []
    slot = width / len(months)
    top = top_seconds or max((m.total for m in months), default=timedelta()).total_seconds()
    bars = []
    for index, m in enumerate(months):
        h = (m.total.total_seconds() / top * height) if top else 0.0
        x = round(index * slot + slot * 0.15, 2)
        bars.append(Bar(x, round(height - h, 2), round(slot * 0.7, 2), round(h, 2)))
    return bars


def default_period(now: datetime, days: int = 90) -> tuple[datetime, datetime]:
    now = now.astimezone(UTC)
    return now - timedelta(days=days), now
