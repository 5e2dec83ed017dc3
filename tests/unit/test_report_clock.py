"""The rollups' bucket keys in the center's zone, across DST changes."""

from __future__ import annotations

import datetime as dt

import pytest

from appliance.reports import clock

NY = clock.center_zone("America/New_York")
SH = clock.center_zone("Asia/Shanghai")


def utc(*a: int) -> dt.datetime:
    return dt.datetime(*a, tzinfo=dt.UTC)


def test_fall_back_repeats_the_local_hour_as_two_buckets() -> None:
    first, second = utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 6, 30)  # 01:30 EDT, 01:30 EST
    h1, h2 = clock.bucket_of("hour", first, NY), clock.bucket_of("hour", second, NY)
    assert (h1, h2) == (int(utc(2026, 11, 1, 5).timestamp()), int(utc(2026, 11, 1, 6).timestamp()))
    assert clock.bucket_label("hour", h1, NY) == "2026-11-01 01:00-04:00"
    assert clock.bucket_label("hour", h2, NY) == "2026-11-01 01:00-05:00"
    assert clock.next_bucket("hour", h1, NY) == h2
    assert clock.bucket_of("day", second, NY) == 20261101
    day = clock.bucket_end("day", 20261101, NY) - clock.bucket_start("day", 20261101, NY)
    assert day == dt.timedelta(hours=25)


def test_spring_forward_day_is_23_hours_and_skips_the_hour() -> None:
    h = clock.bucket_of("hour", utc(2026, 3, 8, 6, 59), NY)  # 01:59 EST
    assert clock.bucket_label("hour", h, NY) == "2026-03-08 01:00"
    assert clock.bucket_label("hour", clock.next_bucket("hour", h, NY), NY) == "2026-03-08 03:00"
    assert clock.bucket_end("day", 20260308, NY) - clock.bucket_start("day", 20260308, NY) == (
        dt.timedelta(hours=23)
    )
    assert clock.bucket_start("month", 202603, NY) == utc(2026, 3, 1, 5)


def test_days_and_months_are_local() -> None:
    late = utc(2026, 1, 31, 16, 30)  # 00:30 on 1 February in Shanghai
    assert clock.bucket_of("day", late, SH) == 20260201
    assert clock.bucket_of("month", late, SH) == 202602
    assert clock.bucket_of("q15", late, SH) == int(late.timestamp())
    assert clock.buckets_of(late.timestamp(), SH) == tuple(
        clock.bucket_of(g, late, SH) for g in clock.GRAINS
    )
    assert clock.next_bucket("month", 202612, SH) == 202701
    assert clock.bucket_label("day", 20260201, SH) == "2026-02-01"


@pytest.mark.parametrize("name", ["", "../etc/passwd", "/etc/localtime", "Mars/Base", "a\x00"])
def test_bad_zone_names_are_refused(name: str) -> None:
    with pytest.raises(clock.UnknownZone):
        clock.center_zone(name)
