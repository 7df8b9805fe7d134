"""Rules of a recurring window: parse a recurrence spec and expand its occurrences in UTC.

A recurrence repeats weekly (on one weekday) or monthly (on the first, second, third, fourth or
last given weekday of the month), from a local start time to a local end time in its own IANA
time zone. Times are local wall-clock times, so "02:00–04:00" stays 02:00–04:00 on the local
clocks across daylight-saving changes (its UTC instants move instead). Two local times need a
rule (docs/recurrences.md):

- a time the clocks skip (spring forward) becomes the instant the clocks jump to: 02:30 in a
  02:00→03:00 gap becomes 03:00;
- a time the clocks pass twice (fall back) is the first of the two (fold=0).

An end at or before the start means the next day (23:00–01:00 crosses midnight). Should both
ends fall in the same gap, the occurrence keeps its usual length from its moved start.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import MONTHLY, WEEKLY, rrule, weekday, weekdays

from .validation import FIELDS as WINDOW_FIELDS
from .validation import ValidationError, validate_window

FREQUENCIES = ("weekly", "monthly")
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
WEEKS = (1, 2, 3, 4, -1)  # -1: the last one of the month
RULE_FIELDS = ("frequency", "weekday", "week", "start", "end", "time_zone")
# Each occurrence gets its start, ETA and automatic end from the rule; the rest from the spec.
TIMED_FIELDS = ("starts_at", "eta", "ends_at")
OCCURRENCE_FIELDS = tuple(name for name in WINDOW_FIELDS if name not in TIMED_FIELDS)

# Occurrences are planned ahead as scheduled windows: the next PLAN_AHEAD_COUNT, but none that
# starts more than PLAN_AHEAD_DAYS from now, whichever is fewer (weekly: 4; monthly: 2 or 3).
PLAN_AHEAD_COUNT = 4
PLAN_AHEAD_DAYS = 62

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class Rule:
    """A parsed recurrence: when it repeats and its local times, in its own time zone."""

    frequency: str
    weekday: str
    week: int | None
    start: time
    end: time
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def length(self) -> timedelta:
        """Return the usual length: end minus start on the local clocks (next day when earlier)."""
        day = datetime(2000, 1, 1)
        length = datetime.combine(day, self.end) - datetime.combine(day, self.start)
        return length if length > timedelta(0) else length + timedelta(days=1)

    def to_spec(self) -> dict[str, Any]:
        """Return the spec as JSON-ready values, the same shape `parse_rule` reads."""
        spec: dict[str, Any] = {
            "frequency": self.frequency,
            "weekday": self.weekday,
            "start": f"{self.start:%H:%M}",
            "end": f"{self.end:%H:%M}",
            "time_zone": self.time_zone,
        }
        if self.frequency == "monthly":
            spec["week"] = self.week
        return spec


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a rule, as UTC instants: [starts_at, ends_at)."""

    starts_at: datetime
    ends_at: datetime


def _parse_clock(raw: Any) -> time | None:
    match = _CLOCK.match(raw) if isinstance(raw, str) else None
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def parse_rule(data: Mapping[str, Any]) -> Rule:
    """Validate the rule fields of a spec; raise ValidationError with a message per field."""
    errors: dict[str, str] = {}
    frequency = str(data.get("frequency") or "").strip().lower()
    if frequency not in FREQUENCIES:
        errors["frequency"] = f"Must be one of: {', '.join(FREQUENCIES)}."
    day = str(data.get("weekday") or "").strip().upper()[:2]
    if day not in WEEKDAYS:
        errors["weekday"] = f"Must be one of: {', '.join(WEEKDAYS)}."
    week: int | None = None
    if frequency == "monthly":
        raw_week = data.get("week")
        try:
            week = int(str(raw_week).strip())
        except ValueError:
            week = None
        if isinstance(raw_week, bool) or week not in WEEKS:
            errors["week"] = "Must be 1, 2, 3, 4 or -1 (the last one of the month)."
    elif data.get("week") not in (None, ""):
        errors["week"] = "Only a monthly recurrence has a week."
    start = _parse_clock(data.get("start"))
    if start is None:
        errors["start"] = "Use a local time like 02:00."
    end = _parse_clock(data.get("end"))
    if end is None:
        errors["end"] = "Use a local time like 04:00 (earlier than the start: the next day)."
    elif end == start:
        errors["end"] = "Must differ from the start."
    time_zone = str(data.get("time_zone") or "").strip()
    try:
        if not time_zone or "\x00" in time_zone:
            raise ValueError
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "Use an IANA time zone like America/Sao_Paulo or Europe/Lisbon."
    if errors:
        raise ValidationError(errors)
    return Rule(frequency, day, week, start, end, time_zone)  # type: ignore[arg-type]


def local_to_utc(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a naive local wall-clock time (gap: the jump; repeated: fold=0)."""
    instant = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant  # it exists (fold=0 is the first of two readings)
    # The clocks skipped it: the transition lies between its two readings; find it to the second.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(instant.timestamp())
    before = datetime.fromtimestamp(low, UTC).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


def _byweekday(rule: Rule) -> weekday:
    day = weekdays[WEEKDAYS.index(rule.weekday)]
    return day(rule.week) if rule.frequency == "monthly" else day


def expand(rule: Rule, after: datetime, until: datetime) -> list[Occurrence]:
    """Return the occurrences that start after `after` and no later than `until`, in order."""
    zone = rule.zone
    # The rule runs on local wall-clock dates; a day's margin each side covers any UTC offset.
    first = after.astimezone(zone).replace(tzinfo=None) - timedelta(days=2)
    last = until.astimezone(zone).replace(tzinfo=None) + timedelta(days=2)
    if last < first:
        return []
    starts = rrule(
        WEEKLY if rule.frequency == "weekly" else MONTHLY,
        dtstart=datetime.combine(first.date(), time(0, 0)),
        until=last,
        byweekday=_byweekday(rule),
        byhour=rule.start.hour,
        byminute=rule.start.minute,
        bysecond=0,
    )
    occurrences = []
    for start in starts:
        starts_at = local_to_utc(start, zone)
        if not after < starts_at <= until:
            continue
        end = datetime.combine(start.date(), rule.end)
        if rule.end <= rule.start:
            end += timedelta(days=1)
        ends_at = local_to_utc(end, zone)
        if ends_at <= starts_at:  # both ends in one gap
            ends_at = starts_at + rule.length
        occurrences.append(Occurrence(starts_at, ends_at))
    return occurrences


def plan_ahead(
    rule: Rule, now: datetime, count: int = PLAN_AHEAD_COUNT, days: int = PLAN_AHEAD_DAYS
) -> list[Occurrence]:
    """Return the occurrences to plan now: the next `count` starting within `days`, whichever fewer."""
    return expand(rule, now, now + timedelta(days=days))[:count]


def occurrence_at(rule: Rule, starts_at: datetime) -> Occurrence | None:
    """Return the rule's occurrence that starts exactly at `starts_at`, or None."""
    for occurrence in expand(rule, starts_at - timedelta(seconds=1), starts_at):
        if occurrence.starts_at == starts_at:
            return occurrence
    return None


def validate_recurrence(data: Mapping[str, Any], now: datetime) -> tuple[Rule, dict[str, Any]]:
    """Validate a whole spec: the rule, and the window fields each occurrence is scheduled with.

    Returns the rule and the window fields as JSON-ready values; every error at once.
    """
    errors: dict[str, str] = {}
    rule: Rule | None = None
    try:
        rule = parse_rule({name: data.get(name) for name in RULE_FIELDS})
    except ValidationError as error:
        errors.update(error.fields)
    for name in TIMED_FIELDS:
        if name in data:
            errors[name] = "Each occurrence takes its times from start, end and time_zone."
    fields = {name: value for name, value in data.items() if name not in (*RULE_FIELDS, *TIMED_FIELDS)}
    window: dict[str, Any] = {}
    try:
        checked = validate_window(fields, now)
    except ValidationError as error:
        errors.update(error.fields)
    else:
        window = {
            name: getattr(value, "value", value)
            for name, value in checked.values.items()
            if name in OCCURRENCE_FIELDS
        }
    if errors or rule is None:
        raise ValidationError(errors)
    return rule, window
