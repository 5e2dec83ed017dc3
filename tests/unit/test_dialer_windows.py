"""Calling windows in the called party's local time, across zones and daylight saving."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from acd.dialer.windows import CallingWindow, first_instant

UTC = dt.UTC
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=UTC)


def window(days: frozenset[int] = EVERY_DAY, **kw: object) -> CallingWindow:
    return CallingWindow(days=days, start=dt.time(9), end=dt.time(20), **kw)  # type: ignore[arg-type]


def test_the_called_partys_clock_decides_not_the_boxs() -> None:
    w = window(WEEKDAYS)
    now = utc(2026, 12, 7, 2, 0)  # Monday 10:00 in Shanghai, Sunday 21:00 in New York
    assert w.is_open(now, "Asia/Shanghai")
    assert w.is_open(now, "")  # the default zone: Shanghai
    assert not w.is_open(now, "America/New_York")
    assert w.next_open(now, "America/New_York") == utc(2026, 12, 7, 14, 0)  # Mon 09:00 EST
    assert w.next_open(now, "Asia/Shanghai") == now


def test_the_hours_are_start_inclusive_end_exclusive() -> None:
    w = window()
    sh = "Asia/Shanghai"
    assert not w.is_open(utc(2026, 12, 7, 0, 59, 59), sh)  # 08:59:59
    assert w.is_open(utc(2026, 12, 7, 1, 0), sh)  # 09:00
    assert w.is_open(utc(2026, 12, 7, 11, 59, 59), sh)  # 19:59:59
    assert not w.is_open(utc(2026, 12, 7, 12, 0), sh)  # 20:00
    # after the end: tomorrow's 09:00
    assert w.next_open(utc(2026, 12, 7, 12, 0), sh) == utc(2026, 12, 8, 1, 0)


def test_a_window_until_midnight_takes_in_the_days_last_minute() -> None:
    """An end is exclusive, so 00:00-23:59 leaves 23:59-24:00 closed (in Shanghai that is
    15:59 UTC every day); until midnight ("24:00", or "00:00" as an end) it is open."""
    row = SimpleNamespace(
        window_days="mon,tue,wed,thu,fri,sat,sun",
        window_start="00:00",
        window_end="23:59",
        default_tz="Asia/Shanghai",
    )
    to_2359 = CallingWindow.from_campaign(row)
    assert not to_2359.is_open(utc(2026, 12, 7, 15, 59, 30))
    for end in ("24:00", "00:00"):
        whole = CallingWindow.from_campaign(SimpleNamespace(**{**vars(row), "window_end": end}))
        assert whole.end == dt.time.max
        last = dt.datetime(2026, 12, 7, 15, 59, 59, 999999, tzinfo=UTC)  # 23:59:59.999999
        for at in (utc(2026, 12, 7, 15, 59), utc(2026, 12, 7, 15, 59, 30), last):
            assert whole.is_open(at), (end, at)
        for minute in range(0, 24 * 60, 7):
            assert whole.is_open(utc(2026, 12, 7) + dt.timedelta(minutes=minute))
    # a shorter day: open to its last instant, shut at midnight (when Sunday is not a day)
    evening = CallingWindow.from_campaign(
        SimpleNamespace(**{**vars(row), "window_days": "sat", "window_start": "18:00",
                           "window_end": "24:00"})
    )  # fmt: skip
    assert not evening.is_open(utc(2026, 12, 12, 9, 59))  # Sat 17:59
    assert evening.is_open(utc(2026, 12, 12, 15, 59, 59))  # Sat 23:59:59
    assert not evening.is_open(utc(2026, 12, 12, 16, 0))  # Sun 00:00
    assert evening.next_open(utc(2026, 12, 12, 16, 0)) == utc(2026, 12, 19, 10, 0)


@pytest.mark.parametrize(
    ("day_before", "opens_utc", "tz"),
    [
        # New York springs forward on 2026-03-08: 09:00 is EST on Saturday, EDT on Sunday
        (dt.date(2026, 3, 7), utc(2026, 3, 8, 13, 0), "America/New_York"),
        # and falls back on 2026-11-01: EDT on Saturday, EST on Sunday
        (dt.date(2026, 10, 31), utc(2026, 11, 1, 14, 0), "America/New_York"),
        # London: BST from 2026-03-29, GMT again from 2026-10-25
        (dt.date(2026, 3, 28), utc(2026, 3, 29, 8, 0), "Europe/London"),
        (dt.date(2026, 10, 24), utc(2026, 10, 25, 9, 0), "Europe/London"),
    ],
)
def test_nine_to_eight_holds_across_daylight_saving(
    day_before: dt.date, opens_utc: dt.datetime, tz: str
) -> None:
    w = window()
    # the evening before, after the window closed: the next opening is 09:00 local
    evening = dt.datetime.combine(day_before, dt.time(21), tzinfo=w.tz(tz)).astimezone(UTC)
    assert not w.is_open(evening, tz)
    assert w.next_open(evening, tz) == opens_utc
    assert opens_utc.astimezone(w.tz(tz)).time() == dt.time(9)
    assert not w.is_open(opens_utc - dt.timedelta(seconds=1), tz)
    assert w.is_open(opens_utc, tz)
    # it closes at 20:00 local on the day of the change: 11 hours later, whatever the offset
    closes = opens_utc + dt.timedelta(hours=11)
    assert w.is_open(closes - dt.timedelta(seconds=1), tz)
    assert not w.is_open(closes, tz)


def test_a_start_in_the_spring_gap_opens_when_the_clock_jumps_past_it() -> None:
    ny = "America/New_York"
    w = CallingWindow(days=EVERY_DAY, start=dt.time(2, 30), end=dt.time(5))
    # 02:30 does not exist on 2026-03-08: the clock goes 01:59:59 EST -> 03:00 EDT (07:00 UTC)
    before = utc(2026, 3, 8, 6, 0)  # 01:00 EST
    assert w.next_open(before, ny) == utc(2026, 3, 8, 7, 0)
    assert not w.is_open(utc(2026, 3, 8, 6, 59, 59), ny)
    assert w.is_open(utc(2026, 3, 8, 7, 0), ny)


def test_a_start_that_happens_twice_opens_at_its_first_occurrence() -> None:
    ny = "America/New_York"
    # 01:30 happens twice on 2026-11-01: first EDT (05:30 UTC), then EST (06:30 UTC)
    assert first_instant(dt.date(2026, 11, 1), dt.time(1, 30), ZoneInfo(ny)) == utc(
        2026, 11, 1, 5, 30
    )
    w = CallingWindow(days=EVERY_DAY, start=dt.time(1, 30), end=dt.time(3))
    assert w.next_open(utc(2026, 11, 1, 4, 0), ny) == utc(2026, 11, 1, 5, 30)
    # between the two 01:30s the clock reads 01:30-01:59 EDT, then 01:00-01:29 EST: closed
    assert w.is_open(utc(2026, 11, 1, 5, 59), ny)
    assert not w.is_open(utc(2026, 11, 1, 6, 0), ny)  # 01:00 EST
    assert w.is_open(utc(2026, 11, 1, 6, 30), ny)  # 01:30 EST


def test_holidays_are_the_called_partys_dates_and_days_are_skipped() -> None:
    new_year = dt.date(2027, 1, 1)  # a Friday
    w = window(WEEKDAYS, holidays=frozenset({new_year}))
    # 2027-01-01 02:00 UTC: Friday 10:00 in Shanghai (a holiday), Thursday 21:00 in New York
    at = utc(2027, 1, 1, 2, 0)
    assert not w.is_open(at, "Asia/Shanghai")
    # Shanghai: past the holiday and the weekend, Monday 2027-01-04 09:00 (01:00 UTC)
    assert w.next_open(at, "Asia/Shanghai") == utc(2027, 1, 4, 1, 0)
    # New York: its 2027-01-01 is the holiday too, so also Monday (09:00 EST = 14:00 UTC)
    assert w.next_open(at, "America/New_York") == utc(2027, 1, 4, 14, 0)
    # Los Angeles at 2027-01-01 03:00 UTC is still 2026-12-31 19:00: open
    assert w.is_open(utc(2027, 1, 1, 3, 0), "America/Los_Angeles")


def test_from_campaign_parses_and_refuses_clearly() -> None:
    row = SimpleNamespace(
        window_days="mon,wed", window_start="08:30", window_end="17:00", default_tz="Europe/London"
    )
    w = CallingWindow.from_campaign(row, [dt.date(2026, 12, 25)])
    assert (w.days, w.start, w.end, w.default_tz) == (
        frozenset({0, 2}),
        dt.time(8, 30),
        dt.time(17),
        "Europe/London",
    )
    assert w.holidays == frozenset({dt.date(2026, 12, 25)})
    for bad, says in [
        ({"window_days": "mon,xyz"}, "unknown day xyz"),
        ({"window_start": "8am"}, "HH:MM"),
        ({"window_end": "08:00"}, "start before it ends"),
        ({"window_end": "24:01"}, "HH:MM"),
        ({"window_start": "24:00"}, "HH:MM"),  # midnight ends a window, never starts one
        ({"default_tz": "Nowhere/City"}, "unknown time zone"),
    ]:
        with pytest.raises(ValueError, match=says):
            CallingWindow.from_campaign(SimpleNamespace(**{**vars(row), **bad}))
    # a lead's unknown zone is refused, never called at a guessed hour
    with pytest.raises(ValueError, match="unknown time zone"):
        w.is_open(utc(2026, 12, 7, 10, 0), "Not/AZone")
    with pytest.raises(ValueError, match="naive"):
        w.is_open(dt.datetime(2026, 12, 7, 10, 0), "")
