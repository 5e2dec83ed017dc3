"""The center's clock: its time zone and the rollups' bucket keys.

Grains and their keys (BigInteger, the ``bucket`` column of every rollup table):

- ``q15``: UTC epoch seconds of the quarter hour's start. Every IANA offset in use is a
  whole number of quarter hours, so these are local quarter hours too;
- ``hour``: UTC epoch seconds of the start of the LOCAL hour. At a fall-back change the
  repeated local hour is two buckets; where the offset is not whole hours (Asia/Kolkata)
  the local hour starts at :30 UTC;
- ``day``: the local date as YYYYMMDD;
- ``month``: the local month as YYYYMM.

The center's zone is ``[reports] timezone`` (appliance/config.py); its default is the box's
own zone (``box_zone_name``).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

# the zone names are ground (appliance/config.py checks [reports] timezone): here for the rest
from appliance.zones import UnknownZone as UnknownZone
from appliance.zones import box_zone_name as box_zone_name
from appliance.zones import center_zone as center_zone

GRAINS = ("q15", "hour", "day", "month")
_UTC = dt.UTC
_Q15 = 900


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_UTC)  # the database's naive times are UTC
    return moment.astimezone(_UTC)


def epoch_of(moment: dt.datetime) -> float:
    return _utc(moment).timestamp()


def q15_of(epoch: float) -> int:
    return int(epoch // _Q15) * _Q15


def hour_of(epoch: float, zone: ZoneInfo) -> int:
    """The UTC epoch of the start of the local hour holding ``epoch``."""
    local = dt.datetime.fromtimestamp(epoch, zone)
    offset = local.utcoffset()
    off = int(offset.total_seconds()) if offset is not None else 0
    # local wall seconds, floored to the hour, back to UTC with this instant's offset: a
    # repeated hour keeps its own offset, so its two passes are two buckets
    wall = int(epoch // 1) + off
    return wall - wall % 3600 - off


def day_of(epoch: float, zone: ZoneInfo) -> int:
    local = dt.datetime.fromtimestamp(epoch, zone)
    return local.year * 10000 + local.month * 100 + local.day


def month_of(epoch: float, zone: ZoneInfo) -> int:
    local = dt.datetime.fromtimestamp(epoch, zone)
    return local.year * 100 + local.month


def bucket_of(grain: str, moment: dt.datetime, zone: ZoneInfo) -> int:
    """The bucket of ``grain`` a UTC moment (aware, or naive UTC) falls in."""
    epoch = epoch_of(moment)
    if grain == "q15":
        return q15_of(epoch)
    if grain == "hour":
        return hour_of(epoch, zone)
    if grain == "day":
        return day_of(epoch, zone)
    if grain == "month":
        return month_of(epoch, zone)
    raise ValueError(f"unknown grain {grain!r}")


def buckets_of(epoch: float, zone: ZoneInfo) -> tuple[int, int, int, int]:
    """The four buckets (q15, hour, day, month) of one moment, in one local conversion."""
    local = dt.datetime.fromtimestamp(epoch, zone)
    offset = local.utcoffset()
    off = int(offset.total_seconds()) if offset is not None else 0
    wall = int(epoch // 1) + off
    return (
        int(epoch // _Q15) * _Q15,
        wall - wall % 3600 - off,
        local.year * 10000 + local.month * 100 + local.day,
        local.year * 100 + local.month,
    )


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the local ``day`` begins. Where midnight falls in a gap (a zone that
    springs forward at 00:00), fold=0 reads it with the offset before the gap: the gap's end,
    which is the day's first instant; a repeated midnight is read at its first pass."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(_UTC)


def bucket_start(grain: str, bucket: int, zone: ZoneInfo) -> dt.datetime:
    """The first UTC instant of a bucket."""
    if grain in ("q15", "hour"):
        return dt.datetime.fromtimestamp(bucket, _UTC)
    if grain == "day":
        return local_midnight(dt.date(bucket // 10000, bucket // 100 % 100, bucket % 100), zone)
    if grain == "month":
        return local_midnight(dt.date(bucket // 100, bucket % 100, 1), zone)
    raise ValueError(f"unknown grain {grain!r}")


def next_bucket(grain: str, bucket: int, zone: ZoneInfo) -> int:
    """The bucket after ``bucket``."""
    if grain == "q15":
        return bucket + _Q15
    if grain == "hour":
        # the next local hour: the hour of the instant an hour on (45 min on a 30-min shift)
        end = bucket + 3600
        nxt = hour_of(end, zone)
        while nxt <= bucket:
            end += _Q15
            nxt = hour_of(end, zone)
        return nxt
    if grain == "day":
        d = dt.date(bucket // 10000, bucket // 100 % 100, bucket % 100) + dt.timedelta(days=1)
        return d.year * 10000 + d.month * 100 + d.day
    if grain == "month":
        y, m = divmod(bucket, 100)
        return (y + 1) * 100 + 1 if m == 12 else y * 100 + m + 1
    raise ValueError(f"unknown grain {grain!r}")


def bucket_end(grain: str, bucket: int, zone: ZoneInfo) -> dt.datetime:
    """The first UTC instant after a bucket (the next bucket's start)."""
    if grain == "q15":
        return dt.datetime.fromtimestamp(bucket + _Q15, _UTC)
    return bucket_start(grain, next_bucket(grain, bucket, zone), zone)


def bucket_label(grain: str, bucket: int, zone: ZoneInfo) -> str:
    """A bucket in local time: "2026-03-08 01:45", "2026-11-01 01:00-05:00" (a quarter or an
    hour shows its offset where the local time repeats), "2026-03-08", "2026-03"."""
    if grain in ("q15", "hour"):
        local = dt.datetime.fromtimestamp(bucket, zone)
        text = local.strftime("%Y-%m-%d %H:%M")
        other = local.replace(fold=1 - local.fold).astimezone(_UTC).timestamp()
        if int(other) != bucket:  # the same wall time exists twice: say which
            z = local.strftime("%z")
            text += f"{z[:3]}:{z[3:]}"
        return text
    if grain == "day":
        return f"{bucket // 10000:04d}-{bucket // 100 % 100:02d}-{bucket % 100:02d}"
    if grain == "month":
        return f"{bucket // 100:04d}-{bucket % 100:02d}"
    raise ValueError(f"unknown grain {grain!r}")


def day_key(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def month_key(day: dt.date) -> int:
    return day.year * 100 + day.month
