"""Reading the rollups: the fewest rows that cover a range, and the hour-by-weekday sums
across DST changes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from appliance.db import model as m
from appliance.reports import query as q
from appliance.reports.query import Span
from appliance.reports.ranges import ReportRange
from tests.support.report_db import report_engine


def test_whole_months_are_month_rows_and_the_rest_day_rows() -> None:
    rng = ReportRange.parse("custom", "2026-11-28", "2027-01-03", zone="UTC")
    assert q.cover(rng) == (
        Span("day", 20261128, 20261130),
        Span("month", 202612, 202612),
        Span("day", 20270101, 20270102),
    )
    year = ReportRange.parse("year", "2026", zone="UTC")
    assert q.cover(year) == (Span("month", 202601, 202612),)
    assert q.cover(ReportRange.parse("day", "2026-12-31", zone="UTC")) == (
        Span("day", 20261231, 20261231),
    )
    # a month that is not whole stays in days
    assert q.day_spans(dt.date(2026, 2, 2), dt.date(2026, 3, 1)) == (
        Span("day", 20260202, 20260228),
    )


def test_partial_days_come_from_quarter_hours_in_the_center_zone() -> None:
    zone = ReportRange.parse("day", "2026-03-29", zone="Europe/Berlin").tz
    t0 = dt.datetime(2026, 3, 28, 22, 30, tzinfo=dt.UTC)  # 23:30 CET on the 28th
    t1 = dt.datetime(2026, 3, 30, 0, 15, tzinfo=dt.UTC)  # 02:15 CEST on the 30th
    spans = q.instant_spans(t0, t1, zone)
    midnight = int(dt.datetime(2026, 3, 28, 23, tzinfo=dt.UTC).timestamp())
    next_midnight = int(dt.datetime(2026, 3, 29, 22, tzinfo=dt.UTC).timestamp())  # 23 hours on
    assert spans == (
        Span("q15", int(t0.timestamp()), midnight - 900),
        Span("day", 20260329, 20260329),
        Span("q15", next_midnight, int(t1.timestamp()) - 900),
    )


def test_hour_by_weekday_follows_local_time_across_both_dst_changes(
    backend: str, tmp_path: Path
) -> None:
    year = ReportRange.parse("year", "2026", zone="Europe/Berlin")
    hours = [b for b, _ in year.trend_buckets("hour")]
    assert len(hours) == 8760  # 23-hour and 25-hour days included
    segments = q.offset_segments(year.start_utc, year.end_utc, year.tz)
    assert [(s[2], dt.datetime.fromtimestamp(s[0], dt.UTC).date()) for s in segments] == [
        (3600, dt.date(2025, 12, 31)),
        (7200, dt.date(2026, 3, 29)),
        (3600, dt.date(2026, 10, 25)),
    ]
    expected = [[0.0] * 24 for _ in range(7)]
    for i, b in enumerate(hours):
        local = dt.datetime.fromtimestamp(b, year.tz)
        expected[local.weekday()][local.hour] += 1 + i % 3
    with report_engine(backend, tmp_path) as engine, engine.begin() as conn:
        conn.execute(
            m.report_traffic.insert(),
            [
                {"grain": "hour", "bucket": b, "scope": "center", "key": "", "offered": 1 + i % 3}
                for i, b in enumerate(hours)
            ],
        )
        # another key's rows are not counted
        conn.execute(
            sa.insert(m.report_traffic).values(
                grain="hour", bucket=hours[5], scope="queue", key="1", offered=100
            )
        )
        grid = q.offered_by_hour_of_week(conn, year, "center", "")
    assert grid == expected
    two_am = [b for b in hours if dt.datetime.fromtimestamp(b, year.tz).hour == 2]
    assert len(two_am) == 365  # none on 29 March, two on 25 October
