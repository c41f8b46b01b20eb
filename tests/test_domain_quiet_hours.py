from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain.quiet_hours import QuietHours, iana_name, resolve_zone

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_ONLY = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


def office_hours(days=WEEKDAYS_ONLY, start=time(9), end=time(20), tz="America/New_York"):
    return QuietHours(start=start, end=end, days=days, default_tz=tz)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: ZoneInfo, *args) -> datetime:
    return datetime(*args, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("america_slash_new_york", "America/New_York"),
        ("america_slash_los_angeles", "America/Los_Angeles"),
        ("europe_slash_london", "Europe/London"),
        ("america_slash_argentina_slash_buenos_aires", "America/Argentina/Buenos_Aires"),
        ("america_slash_port_hyphen_au_hyphen_prince", "America/Port-au-Prince"),
        ("america_slash_port_au_prince", "America/Port-au-Prince"),
        ("etc_slash_gmt_plus_3", "Etc/GMT+3"),
        ("etc_slash_gmt_minus_3", "Etc/GMT-3"),
        ("America/Chicago", "America/Chicago"),  # already IANA
        ("AMERICA_SLASH_DENVER", "America/Denver"),
        ("mars_slash_olympus_mons", None),
        ("", None),
        (None, None),
    ],
)
def test_hubspot_timezone_values_map_to_iana(value, expected):
    assert iana_name(value) == expected


def test_unknown_or_missing_timezone_falls_back_to_default():
    assert resolve_zone("mars_slash_olympus_mons", "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert resolve_zone(None, "Europe/Paris") == ZoneInfo("Europe/Paris")
    assert resolve_zone("asia_slash_tokyo", "Europe/Paris") == ZoneInfo("Asia/Tokyo")


def test_inside_window_is_allowed_now():
    monday_2pm = local(NEW_YORK, 2024, 6, 3, 14, 0)
    assert office_hours().next_allowed(monday_2pm, "america_slash_new_york") is None


def test_before_window_waits_for_todays_start():
    monday_8am = local(NEW_YORK, 2024, 6, 3, 8, 0)
    expected = local(NEW_YORK, 2024, 6, 3, 9, 0)
    assert office_hours().next_allowed(monday_8am, "america_slash_new_york") == expected


def test_start_is_inclusive_and_end_exclusive():
    rules = office_hours()
    assert rules.next_allowed(local(NEW_YORK, 2024, 6, 3, 9, 0), None) is None
    at_end = local(NEW_YORK, 2024, 6, 3, 20, 0)
    assert rules.next_allowed(at_end, None) == local(NEW_YORK, 2024, 6, 4, 9, 0)
    just_before_end = at_end - timedelta(microseconds=1)
    assert rules.next_allowed(just_before_end, None) is None


def test_friday_evening_waits_for_monday():
    friday_9pm = local(NEW_YORK, 2024, 6, 7, 21, 0)
    assert office_hours().next_allowed(friday_9pm, None) == local(NEW_YORK, 2024, 6, 10, 9, 0)


def test_weekend_day_is_not_allowed():
    saturday_noon = local(NEW_YORK, 2024, 6, 8, 12, 0)
    assert office_hours().next_allowed(saturday_noon, None) == local(NEW_YORK, 2024, 6, 10, 9)


def test_contact_timezone_decides_not_the_default():
    # 12:00 UTC on a Monday: 08:00 in New York (closed), 13:00 in London (open).
    now = utc(2024, 6, 3, 12, 0)
    rules = office_hours()
    assert rules.next_allowed(now, "europe_slash_london") is None
    assert rules.next_allowed(now, "america_slash_new_york") == utc(2024, 6, 3, 13, 0)
    assert rules.next_allowed(now, "mars_slash_olympus_mons") == utc(2024, 6, 3, 13, 0)


def test_naive_now_is_read_as_utc():
    naive = datetime(2024, 6, 3, 12, 0)
    assert office_hours().next_allowed(naive, None) == utc(2024, 6, 3, 13, 0)


class TestWindowAcrossMidnight:
    rules = office_hours(days=frozenset({4}), start=time(22), end=time(2))  # Fri 22:00–Sat 02:00

    def test_open_late_on_the_listed_day(self):
        assert self.rules.next_allowed(local(NEW_YORK, 2024, 6, 7, 23, 30), None) is None

    def test_still_open_after_midnight_of_the_listed_day(self):
        assert self.rules.next_allowed(local(NEW_YORK, 2024, 6, 8, 1, 30), None) is None

    def test_closes_at_end_next_morning(self):
        closed = local(NEW_YORK, 2024, 6, 8, 2, 0)
        assert self.rules.next_allowed(closed, None) == local(NEW_YORK, 2024, 6, 14, 22, 0)

    def test_early_on_the_listed_day_waits_for_the_evening(self):
        # Friday 01:00 belongs to Thursday's (unlisted) night, so it is closed.
        early = local(NEW_YORK, 2024, 6, 7, 1, 0)
        assert self.rules.next_allowed(early, None) == local(NEW_YORK, 2024, 6, 7, 22, 0)


class TestDaylightSaving:
    # New York: 2024-03-10 02:00 EST → 03:00 EDT (07:00 UTC); 2024-11-03 02:00 EDT → 01:00 EST.

    def test_window_start_uses_the_new_offset_on_the_change_day(self):
        rules = office_hours(days=EVERY_DAY)
        before = utc(2024, 3, 10, 12, 0)  # 08:00 EDT
        assert rules.next_allowed(before, None) == utc(2024, 3, 10, 13, 0)  # 09:00 EDT
        day_before = utc(2024, 3, 9, 13, 30)  # 08:30 EST
        assert rules.next_allowed(day_before, None) == utc(2024, 3, 9, 14, 0)

    def test_start_in_the_skipped_hour_opens_at_the_jump(self):
        rules = office_hours(days=EVERY_DAY, start=time(2, 30), end=time(5))
        one_am = utc(2024, 3, 10, 6, 0)  # 01:00 EST
        assert rules.next_allowed(one_am, None) == utc(2024, 3, 10, 7, 0)  # 03:00 EDT
        assert rules.next_allowed(utc(2024, 3, 10, 7, 0), None) is None

    def test_end_in_the_skipped_hour_closes_at_the_jump(self):
        rules = office_hours(days=EVERY_DAY, start=time(0), end=time(2, 30))
        assert rules.next_allowed(utc(2024, 3, 10, 6, 59), None) is None  # 01:59 EST
        assert rules.next_allowed(utc(2024, 3, 10, 7, 0), None) == utc(2024, 3, 11, 4, 0)

    def test_repeated_time_opens_at_its_first_occurrence(self):
        rules = office_hours(days=EVERY_DAY, start=time(1, 30), end=time(3))
        midnight = utc(2024, 11, 3, 4, 0)  # 00:00 EDT
        assert rules.next_allowed(midnight, None) == utc(2024, 11, 3, 5, 30)  # 01:30 EDT
        second_130 = utc(2024, 11, 3, 6, 30)  # 01:30 EST, still inside
        assert rules.next_allowed(second_130, None) is None

    def test_fall_back_day_office_hours(self):
        rules = office_hours(days=EVERY_DAY)
        assert rules.next_allowed(utc(2024, 11, 3, 13, 30), None) == utc(2024, 11, 3, 14, 0)
        assert rules.next_allowed(utc(2024, 11, 4, 0, 59), None) is None  # 19:59 EST
        assert rules.next_allowed(utc(2024, 11, 4, 1, 0), None) == utc(2024, 11, 4, 14, 0)


def test_needs_at_least_one_valid_day():
    with pytest.raises(ValueError):
        office_hours(days=frozenset())
    with pytest.raises(ValueError):
        office_hours(days=frozenset({7}))


def test_default_timezone_is_checked_at_construction():
    with pytest.raises(Exception):  # noqa: B017 - ZoneInfoNotFoundError or ValueError
        office_hours(tz="Mars/Olympus_Mons")


ZONES = ["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


def open_by_wall_clock(rules: QuietHours, moment: datetime, tz: ZoneInfo) -> bool:
    """Independent oracle, in local wall-clock terms (valid away from DST-changing hours)."""
    wall = moment.astimezone(tz)
    clock, weekday = wall.time(), wall.weekday()
    if rules.start < rules.end:
        return weekday in rules.days and rules.start <= clock < rules.end
    evening = weekday in rules.days and clock >= rules.start
    night_after = (weekday - 1) % 7 in rules.days and clock < rules.end
    return evening or night_after


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
    zone=st.sampled_from(ZONES),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start_hour=st.integers(5, 23),
    length_hours=st.integers(1, 23),
)
def test_next_allowed_matches_wall_clock_and_is_the_earliest_opening(
    now, zone, days, start_hour, length_hours
):
    end_hour = (start_hour + length_hours) % 24
    assume(end_hour not in (1, 2))  # these zones change clocks between 01:00 and 03:00
    rules = QuietHours(start=time(start_hour), end=time(end_hour), days=days, default_tz="UTC")
    now = now.replace(tzinfo=UTC)
    tz = ZoneInfo(zone)
    result = rules.next_allowed(now, zone)
    assert (result is None) == open_by_wall_clock(rules, now, tz)
    if result is None:
        return
    opened_local = result.astimezone(tz)
    assert now < result <= now + timedelta(days=8)
    assert opened_local.weekday() in days
    assert opened_local.time() == rules.start  # no DST gap at 05:00–23:00 in these zones
    assert rules.next_allowed(result, zone) is None
    assert not open_by_wall_clock(rules, result - timedelta(seconds=1), tz)
