"""Report ranges: the periods a manager picks, cut in the center's zone (DST days are 23 and
25 hours), ISO weeks across a year's end, and clear refusals of bad input."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.reports.ranges import RangeError, ReportRange
from appliance.text import Message

BERLIN = "Europe/Berlin"


def utc(year: int, month: int, day: int, hour: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


def test_spring_forward_day_is_23_hours_with_23_hour_buckets() -> None:
    day = ReportRange.parse("day", "2026-03-29", zone=BERLIN)  # 02:00 CET -> 03:00 CEST
    assert (day.start_utc, day.end_utc) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    hours = day.trend_buckets("hour")
    assert len(hours) == 23 and len(day.trend_buckets("q15")) == 92
    assert [label for _, label in hours[:3]] == ["00:00", "01:00", "03:00"]
    assert day.grain == "hour" and day.fine_grain == "q15"


def test_fall_back_day_is_25_hours_and_the_repeated_hour_says_which() -> None:
    day = ReportRange.parse("day", dt.date(2026, 10, 25), zone=BERLIN)  # 03:00 CEST -> 02:00 CET
    assert day.end_utc - day.start_utc == dt.timedelta(hours=25)
    hours = day.trend_buckets()
    assert len(hours) == 25 and len(day.trend_buckets("q15")) == 100
    labels = [label for _, label in hours]
    assert labels[1:5] == ["01:00", "02:00+02:00", "02:00+01:00", "03:00"]
    # the keys are the rollups' (UTC epoch of the local hour's start), one hour apart
    assert hours[2][0] - hours[1][0] == 3600 and hours[3][0] == int(
        utc(2026, 10, 25, 1).timestamp()
    )


def test_iso_weeks_across_the_year_end() -> None:
    w53 = ReportRange.parse("week", "2026-12-31", zone="UTC")  # a Thursday
    assert (w53.start, w53.end, w53.label) == (
        dt.date(2026, 12, 28),
        dt.date(2027, 1, 4),
        "2026-W53",
    )
    w1 = w53.next()
    assert (w1.start, w1.label) == (dt.date(2027, 1, 4), "2027-W01")
    assert ReportRange.parse("week", "2027-W01", zone="UTC") == w1
    assert w1.previous() == w53
    # 2027-01-01 (a Friday) is in 2026's last ISO week, not in 2027-W01
    assert ReportRange.parse("week", "2027-01-01", zone="UTC") == w53
    assert ReportRange.parse("week", "2025-12-29", zone="UTC").label == "2026-W01"
    assert w53.grain == "day" and [b for b, _ in w53.trend_buckets()][-1] == 20270103


def test_months_quarters_years_and_their_neighbours() -> None:
    month = ReportRange.parse("month", "2026-12", zone="Asia/Shanghai")
    assert (month.start, month.end, month.label) == (
        dt.date(2026, 12, 1),
        dt.date(2027, 1, 1),
        "2026-12",
    )
    assert month.start_utc == utc(2026, 11, 30, 16)  # local midnight, UTC+8
    assert month.next().label == "2027-01" and month.previous().label == "2026-11"
    quarter = ReportRange.parse("quarter", "2026-11-15", zone="UTC")
    assert (quarter.start, quarter.end, quarter.label) == (
        dt.date(2026, 10, 1),
        dt.date(2027, 1, 1),
        "2026-Q4",
    )
    assert ReportRange.parse("quarter", "2026-Q4", zone="UTC") == quarter
    assert quarter.next().label == "2027-Q1" and quarter.grain == "day"
    year = ReportRange.parse("year", "2026", zone="UTC")
    assert (year.days, year.grain, len(year.trend_buckets())) == (365, "month", 12)
    assert year.previous().label == "2025"


def test_custom_ranges_end_exclusive_and_pick_their_grain_by_length() -> None:
    week = ReportRange.parse("custom", "2026-12-01", "2026-12-08", zone="UTC")
    assert (week.days, week.last_day, week.grain) == (7, dt.date(2026, 12, 7), "day")
    assert week.label == "2026-12-01 \u2013 2026-12-07"
    assert week.previous() == ReportRange.parse("custom", "2026-11-24", "2026-12-01", zone="UTC")
    assert ReportRange.parse("custom", "2026-12-01", "2026-12-03", zone="UTC").grain == "hour"
    assert ReportRange.parse("custom", "2026-01-01", "2026-06-01", zone="UTC").grain == "month"
    assert ReportRange.parse(**week.as_params(), zone="UTC") == week


def test_containing_cuts_the_day_in_the_center_zone() -> None:
    late = utc(2026, 12, 6, 17)  # 01:00 on the 7th in Shanghai
    assert ReportRange.containing("day", late, "Asia/Shanghai").start == dt.date(2026, 12, 7)
    assert ReportRange.containing("day", late, "UTC").start == dt.date(2026, 12, 6)


@pytest.mark.parametrize(
    ("args", "msgid"),
    [
        (("custom", "2020-01-01", "2023-01-05"), "A custom range may be at most 3 years long."),
        (("custom", "2026-12-08", "2026-12-01"), "The end date must be after the start date."),
        (("custom", "2026-12-08", "2026-12-08"), "The end date must be after the start date."),
        (("custom", "2026-12-08"), "A custom range needs an end date."),
        (("fortnight", "2026-12-08"), "Unknown report range: {kind}"),
        (("day", "2026-02-30"), "Not a date (YYYY-MM-DD): {value}"),
        (("day", "12/08/2026"), "Not a date (YYYY-MM-DD): {value}"),
        (("day", "2026-12-08'; drop table calls"), "Not a date (YYYY-MM-DD): {value}"),
        (("week", "2026-W54"), "Not a week (YYYY-Www): {value}"),
        (("month", "2026-13"), "Not a month (YYYY-MM): {value}"),
        (("year", "1900"), "The year must be between {low} and {high}."),
    ],
)
def test_bad_input_is_refused_with_a_translatable_message(
    args: tuple[str, ...], msgid: str
) -> None:
    with pytest.raises(RangeError) as caught:
        kind, start, *end = args
        ReportRange.parse(kind, start, end[0] if end else None, zone="UTC")
    message = caught.value.args[0]
    assert isinstance(message, Message) and message.msgid == msgid


def test_an_unknown_zone_is_refused() -> None:
    for zone in ("Mars/Olympus", "../../etc/passwd", ""):
        with pytest.raises(RangeError) as caught:
            ReportRange.parse("day", "2026-12-08", zone=zone)
        assert caught.value.args[0].msgid == "Unknown time zone: {zone}"
