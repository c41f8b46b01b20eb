"""Calling windows in the contact's own time zone (SPEC §5.3, `quiet_hours`).

A window opens at `start` on each listed weekday and closes at `end` (exclusive); when
`end <= start` it closes on the following day, so `22:00`–`02:00` is a night window.
Boundaries are wall-clock times: on a DST change day a boundary that falls in the skipped
hour opens at the first instant whose local time is at or after it (the jump itself), and
one that occurs twice uses its first occurrence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

# HubSpot's hs_timezone spells IANA names as e.g. `america_slash_port_hyphen_au_hyphen_prince`.
_HUBSPOT_ESCAPES = {"_slash_": "/", "_hyphen_": "-", "_minus_": "-", "_plus_": "+"}
_LOOSE_DROP = re.compile(r"[\s_\-]")


def _loose_key(name: str) -> str:
    """Case, `_`, `-` and spaces do not distinguish any two IANA zone names."""
    return _LOOSE_DROP.sub("", name.lower())


@lru_cache(maxsize=1)
def _zones_by_loose_key() -> dict[str, str]:
    return {_loose_key(name): name for name in available_timezones()}


def iana_name(tz_value: str | None) -> str | None:
    """The IANA zone for an `hs_timezone` value (or an IANA name), None when unknown."""
    text = (tz_value or "").strip()
    if not text:
        return None
    lowered = text.lower()
    for escape, char in _HUBSPOT_ESCAPES.items():
        lowered = lowered.replace(escape, char)
    return _zones_by_loose_key().get(_loose_key(lowered))


def resolve_zone(tz_value: str | None, default_tz: str) -> ZoneInfo:
    return ZoneInfo(iana_name(tz_value) or default_tz)


def _utc_at_or_after(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local time in `zone` is at or after naive `wall`."""
    fold0 = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    fold1 = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(fold0, fold1), max(fold0, fold1)
    if low.astimezone(zone).replace(tzinfo=None) >= wall:
        return low  # the time exists (the first occurrence if it repeats)
    # `wall` is in a DST gap: bisect (to the second) for the jump between low and high.
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


@dataclass(frozen=True)
class QuietHours:
    """Calls are allowed only inside the window; `days` uses 0 = Monday."""

    start: time
    end: time
    days: frozenset[int]
    default_tz: str

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError("quiet hours need at least one weekday in 0..6")
        ZoneInfo(self.default_tz)  # fail at configuration time, not at the first call

    def _window(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
        end_day = day + timedelta(days=1) if self.end <= self.start else day
        opens = _utc_at_or_after(datetime.combine(day, self.start), zone)
        closes = _utc_at_or_after(datetime.combine(end_day, self.end), zone)
        return opens, closes

    def next_allowed(self, now_utc: datetime, tz_name: str | None) -> datetime | None:
        """None when calling is allowed now, else the UTC instant the next window opens."""
        now = now_utc.replace(tzinfo=UTC) if now_utc.tzinfo is None else now_utc
        now = now.astimezone(UTC)
        try:
            zone = resolve_zone(tz_name, self.default_tz)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo(self.default_tz)
        today = now.astimezone(zone).date()
        # Yesterday's window may still be open (night windows); 8 days ahead covers a week.
        for offset in range(-1, 9):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens, closes = self._window(day, zone)
            if opens <= now < closes:
                return None
            if opens > now:
                return opens
        raise AssertionError("unreachable: a non-empty weekday set repeats within a week")
