"""Calling windows: the days and hours a campaign may call, in the CALLED PARTY's local time.

A window is open at an instant when, on the called party's clock, the day is one of the
window's weekdays, the date is not a holiday, and the time is at or after ``start`` and
before ``end`` (an ``end`` of midnight, stored "24:00", takes in the day's last minute).
Local time comes from the instant in UTC through zoneinfo, so daylight saving changes need
no special case there; only :meth:`CallingWindow.next_open`, which turns
a local opening time back into an instant, meets the clock's gaps and repeats:

- a ``start`` that does not exist that day (it falls in the spring-forward gap) opens at
  the first instant the clock reads later than it: the moment of the change;
- a ``start`` that happens twice (fall back) opens at its first occurrence.

Zone names are checked when a campaign is saved (appliance/db/campaign_values.py); a lead
whose zone is unknown is refused here with ValueError rather than called at a guessed hour.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from appliance.db.campaign_values import END_OF_DAY, parse_clock, parse_days, parse_window_end, zone
from appliance.text import N_

UTC = dt.UTC


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return zone(name)


@dataclass(frozen=True)
class CallingWindow:
    days: frozenset[int]  # Monday is 0
    start: dt.time
    end: dt.time  # END_OF_DAY (time.max): until midnight
    holidays: frozenset[dt.date] = frozenset()
    # The zone of a lead that has none of its own ("").
    default_tz: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        if not self.days or not self.days <= frozenset(range(7)):
            raise ValueError(N_("the calling window needs at least one day"))
        if self.start >= self.end:
            raise ValueError(N_("the calling window must start before it ends"))
        _zone(self.default_tz)

    @classmethod
    def from_campaign(cls, row: Any, holidays: Iterable[dt.date] = ()) -> CallingWindow:
        """The window of a campaign row (window_days "mon,tue,...", window_start and
        window_end "HH:MM", an end "24:00" midnight, default_tz); ValueError with a clear
        message for a bad value."""
        return cls(
            days=parse_days(row.window_days),
            start=parse_clock(row.window_start),
            end=parse_window_end(row.window_end),
            holidays=frozenset(holidays),
            default_tz=zone(row.default_tz).key,
        )

    def tz(self, tz_name: str) -> ZoneInfo:
        """The called party's zone: ``tz_name``, or the window's default when empty."""
        return _zone(tz_name or self.default_tz)

    def is_open(self, now_utc: dt.datetime, tz_name: str = "") -> bool:
        """May a party in ``tz_name`` ("" : the default zone) be called at ``now_utc``?"""
        local = _aware(now_utc).astimezone(self.tz(tz_name))
        return (
            local.weekday() in self.days
            and local.date() not in self.holidays
            and self._within_hours(local.time().replace(tzinfo=None))
        )

    def _within_hours(self, wall: dt.time) -> bool:
        # ``end`` is exclusive, unless it is midnight: then the day's last instant is in
        return self.start <= wall and (wall < self.end or self.end == END_OF_DAY)

    def next_open(self, now_utc: dt.datetime, tz_name: str = "") -> dt.datetime:
        """``now_utc`` when the window is open, else the instant (UTC) it next opens."""
        now = _aware(now_utc).astimezone(UTC)
        if self.is_open(now, tz_name):
            return now
        z = self.tz(tz_name)
        today = now.astimezone(z).date()
        # every week has an open day unless holidays take it: look past all of them
        for ahead in range(8 + len(self.holidays)):
            day = today + dt.timedelta(days=ahead)
            if day.weekday() not in self.days or day in self.holidays:
                continue
            opening = first_instant(day, self.start, z)
            if opening > now and self.is_open(opening, tz_name):
                return opening
        raise ValueError(N_("the calling window never opens"))  # pragma: no cover


def first_instant(day: dt.date, wall: dt.time, z: ZoneInfo) -> dt.datetime:
    """The first instant (UTC) at which the clock of zone ``z`` reads ``wall`` or later on
    ``day``: the wall time's first occurrence, or the end of the gap that skips it."""
    naive = dt.datetime.combine(day, wall)
    a = naive.replace(tzinfo=z, fold=0).astimezone(UTC)
    b = naive.replace(tzinfo=z, fold=1).astimezone(UTC)
    found = [u for u in (a, b) if u.astimezone(z).replace(tzinfo=None) == naive]
    if found:
        return min(found)
    # In the gap: the clock jumps past ``wall`` somewhere between the two readings.
    lo, hi = min(a, b), max(a, b)
    while hi - lo > dt.timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(z).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid
    # zone changes happen on whole seconds: the first whole second after ``lo`` is it
    return lo.replace(microsecond=0) + dt.timedelta(seconds=1)


def _aware(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        raise ValueError("naive datetime given; use an aware UTC datetime")
    return t
