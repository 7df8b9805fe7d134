"""The planned maintenance window (PLANNED_WINDOW): parse "HH:MM-HH:MM Area/City" and test a moment.

The window is a daily range of local wall-clock times in an IANA time zone,
half-open ([start, end)), and may cross midnight ("22:00-02:00"). Local times
come from zoneinfo, so daylight saving time is handled: "02:00-06:00" means
02:00 to 06:00 on the local clocks, whatever the UTC offset is that day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMAT = '"HH:MM-HH:MM Area/City", e.g. "02:00-06:00 America/Sao_Paulo"'
_PATTERN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)\s*$")


@dataclass(frozen=True)
class PlannedWindow:
    start: time
    end: time
    zone: ZoneInfo

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


def _clock(hours: str, minutes: str, text: str) -> time:
    hour, minute = int(hours), int(minutes)
    if hour == 24 and minute == 0:
        return time(0, 0)  # "22:00-24:00" ends at midnight
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(
            f"PLANNED_WINDOW {text!r}: {hours}:{minutes} is not a time of day; expected {FORMAT}"
        )
    return time(hour, minute)


def parse_planned(text: str) -> PlannedWindow:
    """Parse PLANNED_WINDOW; raise ValueError with a clear message when it is not valid."""
    if not isinstance(text, str):
        raise ValueError(f"PLANNED_WINDOW must be text; expected {FORMAT}")
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"PLANNED_WINDOW {text!r} is not valid; expected {FORMAT}")
    start_h, start_m, end_h, end_m, zone_name = match.groups()
    start = _clock(start_h, start_m, text)
    end = _clock(end_h, end_m, text)
    if start == end:
        raise ValueError(f"PLANNED_WINDOW {text!r}: the start and the end must differ")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"PLANNED_WINDOW {text!r}: unknown time zone {zone_name!r}; "
            "expected an IANA name like America/Sao_Paulo"
        ) from None
    return PlannedWindow(start, end, zone)


def is_within(planned: PlannedWindow, moment_utc: datetime) -> bool:
    """True if `moment_utc` falls inside the planned window on the local clocks (naive means UTC)."""
    if moment_utc.tzinfo is None:
        moment_utc = moment_utc.replace(tzinfo=UTC)
    local = moment_utc.astimezone(planned.zone).time().replace(tzinfo=None, fold=0)
    if planned.start < planned.end:
        return planned.start <= local < planned.end
    return local >= planned.start or local < planned.end
