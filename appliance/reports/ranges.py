"""Report ranges: a day, an ISO week (Monday first), a month, a quarter, a year or a custom
span of whole local days, cut in the center's time zone.

``ReportRange.parse(kind, start, end=None, zone=...)`` takes what a person or a URL gives
(``start`` as a date or a string: "2026-12-06" for any kind, or the kind's own form:
"2026-W49", "2026-12", "2026-Q4", "2026") and snaps it to the whole period that contains
it. ``end`` is only for "custom" and is EXCLUSIVE, like ``ReportRange.end``: the custom
range 2026-12-01..2026-12-08 is the seven days of 1 to 7 December. Bad input raises
``RangeError`` (a ``ValueError``) whose message is an ``N_()`` text.

Days start at local midnight (``start_utc``/``end_utc``), so a day is 23 or 25 hours long
across a DST change. ``grain`` is the rollup grain the range's trend reads: "hour" for a
day (``fine_grain`` "q15" for half-hour detail), "day" for a week, month or quarter,
"month" for a year; a custom range picks by its length. ``trend_buckets()`` lists the
bucket keys of that grain (the same keys as ``appliance.reports.clock``) with a label each.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from appliance.reports.clock import day_key, month_key
from appliance.reports.clock import local_midnight as local_midnight  # the calendar's too
from appliance.text import N_

RANGE_KINDS = ("day", "week", "month", "quarter", "year", "custom")
MAX_CUSTOM_DAYS = 3 * 366  # "longer than 3 years" is refused
MIN_YEAR = 1970
MAX_YEAR = 2199
# weekday names, Monday first (date.weekday())
WEEKDAYS = (
    N_("Monday"),
    N_("Tuesday"),
    N_("Wednesday"),
    N_("Thursday"),
    N_("Friday"),
    N_("Saturday"),
    N_("Sunday"),
)
_UTC = dt.UTC
_Q15 = dt.timedelta(minutes=15)

_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEK = re.compile(r"^(\d{4})-?W(\d{2})$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


class RangeError(ValueError):
    """A report range that cannot be read; ``args[0]`` is an ``N_()`` message."""


def zone_of(zone: str | ZoneInfo) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name (or the zone itself); a bad name is a RangeError."""
    if isinstance(zone, ZoneInfo):
        return zone
    name = str(zone).strip()
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise RangeError(N_("Unknown time zone: {zone}", zone=name[:64]))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RangeError(N_("Unknown time zone: {zone}", zone=name)) from None


def _checked_year(year: int) -> int:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise RangeError(
            N_("The year must be between {low} and {high}.", low=MIN_YEAR, high=MAX_YEAR)
        )
    return year


def _date(value: dt.date | str, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        _checked_year(value.year)
        return value
    m = _DATE.match(str(value).strip())
    if m is None:
        raise RangeError(N_("Not a date (YYYY-MM-DD): {value}", value=str(value)[:40]))
    try:
        day = dt.date(_checked_year(int(m[1])), int(m[2]), int(m[3]))
    except ValueError:
        raise RangeError(N_("Not a date (YYYY-MM-DD): {value}", value=str(value)[:40])) from None
    return day


def _add_months(day: dt.date, months: int) -> dt.date:
    """The first of the month ``months`` after ``day``'s month."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _period_start(kind: str, value: dt.date | str) -> dt.date:
    """The first day of the ``kind`` period that ``value`` names or falls in."""
    text = value if isinstance(value, str) else None
    if text is not None:
        text = text.strip()
        if kind == "week" and (m := _WEEK.match(text)):
            year, week = _checked_year(int(m[1])), int(m[2])
            try:
                return dt.date.fromisocalendar(year, week, 1)
            except ValueError:
                raise RangeError(N_("Not a week (YYYY-Www): {value}", value=text[:40])) from None
        if kind in ("month", "quarter", "year") and (m := _MONTH.match(text)):
            if not 1 <= int(m[2]) <= 12:
                raise RangeError(N_("Not a month (YYYY-MM): {value}", value=text[:40]))
            value = dt.date(_checked_year(int(m[1])), int(m[2]), 1)
        elif kind == "quarter" and (m := _QUARTER.match(text)):
            return dt.date(_checked_year(int(m[1])), 3 * int(m[2]) - 2, 1)
        elif kind == "year" and (m := _YEAR.match(text)):
            return dt.date(_checked_year(int(m[1])), 1, 1)
    day = _date(value, "start")
    if kind == "week":
        return day - dt.timedelta(days=day.weekday())
    if kind == "month":
        return day.replace(day=1)
    if kind == "quarter":
        return dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    if kind == "year":
        return dt.date(day.year, 1, 1)
    return day


def _period_end(kind: str, start: dt.date) -> dt.date:
    if kind == "day":
        return start + dt.timedelta(days=1)
    if kind == "week":
        return start + dt.timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[kind]
    return _add_months(start, months)


@dataclass(frozen=True)
class ReportRange:
    """Whole local days ``start`` <= day < ``end`` in the zone named ``zone``."""

    kind: str
    start: dt.date
    end: dt.date
    zone: str

    @classmethod
    def parse(
        cls,
        kind: str,
        start: dt.date | str,
        end: dt.date | str | None = None,
        zone: str | ZoneInfo = "UTC",
    ) -> ReportRange:
        """Read a range from a person's or a URL's input (see the module docstring)."""
        if kind not in RANGE_KINDS:
            raise RangeError(N_("Unknown report range: {kind}", kind=str(kind)[:20]))
        tz = zone_of(zone)
        first = _period_start(kind, start)
        if kind == "custom":
            if end is None or end == "":
                raise RangeError(N_("A custom range needs an end date."))
            last = _date(end, "end")
            if last <= first:
                raise RangeError(N_("The end date must be after the start date."))
            if (last - first).days > MAX_CUSTOM_DAYS:
                raise RangeError(N_("A custom range may be at most 3 years long."))
        else:
            last = _period_end(kind, first)
            _checked_year(last.year)
        return cls(kind, first, last, tz.key)

    @classmethod
    def containing(cls, kind: str, now: dt.datetime, zone: str | ZoneInfo = "UTC") -> ReportRange:
        """The ``kind`` period (not custom) that the instant ``now`` falls in, locally."""
        if kind == "custom":
            raise RangeError(N_("Unknown report range: {kind}", kind=kind))
        tz = zone_of(zone)
        if now.tzinfo is None:
            now = now.replace(tzinfo=_UTC)
        return cls.parse(kind, now.astimezone(tz).date(), zone=tz)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def last_day(self) -> dt.date:
        """The last day inside the range (``end`` is exclusive)."""
        return self.end - dt.timedelta(days=1)

    @property
    def start_utc(self) -> dt.datetime:
        return local_midnight(self.start, self.tz)

    @property
    def end_utc(self) -> dt.datetime:
        return local_midnight(self.end, self.tz)

    @property
    def label(self) -> str:
        r"""A short, language-neutral name: 2026-12-06, 2026-W49, 2026-12, 2026-Q4, 2026,
        2026-12-01 \u2013 2026-12-07 (a custom range shows its last day, not its exclusive end)."""
        s = self.start
        if self.kind == "day":
            return s.isoformat()
        if self.kind == "week":
            year, week, _ = s.isocalendar()
            return f"{year}-W{week:02d}"
        if self.kind == "month":
            return f"{s.year}-{s.month:02d}"
        if self.kind == "quarter":
            return f"{s.year}-Q{(s.month - 1) // 3 + 1}"
        if self.kind == "year":
            return str(s.year)
        if self.days == 1:
            return s.isoformat()
        return f"{s.isoformat()} \u2013 {self.last_day.isoformat()}"

    @property
    def grain(self) -> str:
        """The rollup grain of the range's trend chart."""
        if self.kind == "day":
            return "hour"
        if self.kind in ("week", "month", "quarter"):
            return "day"
        if self.kind == "year":
            return "month"
        if self.days <= 2:
            return "hour"
        if self.days <= 92:
            return "day"
        return "month"

    @property
    def fine_grain(self) -> str:
        """The finest grain worth charting: "q15" (read as half hours) up to 2 days."""
        return "q15" if self.days <= 2 else self.grain

    def previous(self) -> ReportRange:
        """The period before this one (a custom range: as many days, just before)."""
        if self.kind == "custom":
            return ReportRange.parse(
                "custom", self.start - dt.timedelta(days=self.days), self.start, self.zone
            )
        if self.kind in ("day", "week"):
            return ReportRange.parse(self.kind, self.start - dt.timedelta(days=1), None, self.zone)
        back = {"month": -1, "quarter": -3, "year": -12}[self.kind]
        return ReportRange.parse(self.kind, _add_months(self.start, back), None, self.zone)

    def next(self) -> ReportRange:
        """The period after this one (a custom range: as many days, just after)."""
        if self.kind == "custom":
            return ReportRange.parse(
                "custom", self.end, self.end + dt.timedelta(days=self.days), self.zone
            )
        return ReportRange.parse(self.kind, self.end, None, self.zone)

    def as_params(self) -> dict[str, str]:
        """What a URL carries to parse this range back (``parse(**as_params(), zone=...)``)."""
        params = {"kind": self.kind, "start": self.start.isoformat()}
        if self.kind == "custom":
            params["end"] = self.end.isoformat()
        return params

    def trend_buckets(self, grain: str | None = None) -> tuple[tuple[int, str], ...]:
        """The ``(bucket, label)`` pairs of ``grain`` (default ``self.grain``) covering the
        range, in time order, keyed like the rollup tables: q15 and hour = UTC epoch seconds
        of the (local) start; day = YYYYMMDD; month = YYYYMM. Labels: "HH:MM" for q15 and
        hour within one day (else "YYYY-MM-DD HH:MM"), "YYYY-MM-DD", "YYYY-MM"."""
        grain = grain or self.grain
        if grain == "day":
            return tuple(
                (day_key(d), d.isoformat())
                for d in (self.start + dt.timedelta(days=i) for i in range(self.days))
            )
        if grain == "month":
            out = []
            month = self.start.replace(day=1)
            while month < self.end:
                out.append((month_key(month), f"{month.year}-{month.month:02d}"))
                month = _add_months(month, 1)
            return tuple(out)
        if grain not in ("q15", "hour"):
            raise RangeError(N_("Unknown grain: {grain}", grain=str(grain)[:10]))
        tz = self.tz
        one_day = self.days == 1
        out = []
        first, stop = int(self.start_utc.timestamp()), int(self.end_utc.timestamp())
        # a day that is not 24 hours long has a DST change, maybe a wall time seen twice
        changes = stop - first != self.days * 86400
        for epoch in range(first, stop, 900):
            local = dt.datetime.fromtimestamp(epoch, tz)
            if grain == "hour" and local.minute:
                continue
            label = f"{local.hour:02d}:{local.minute:02d}"
            if not one_day:
                label = f"{local.date().isoformat()} {label}"
            if changes:
                other = local.replace(fold=1 - local.fold).timestamp()
                if int(other) != epoch:  # the wall time happens twice (clocks went back)
                    z = local.strftime("%z")
                    label += f"{z[:3]}:{z[3:]}"
            out.append((epoch, label))
        return tuple(out)
