"""The forecast on synthetic weeks with a known pattern (across a DST change)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Connection

from appliance.db import model as m
from appliance.reports import forecast
from appliance.reports.model import Report
from appliance.reports.query import ReportError
from appliance.reports.ranges import ReportRange
from tests.support.report_db import memory_connection
from tests.unit.test_report_staffing import traffic

ZONE = "America/New_York"  # the history holds the fall-back change of 2026-11-01
WEEK = ReportRange.parse("week", "2026-W50", zone=ZONE)  # Monday 2026-12-07
FIRST = dt.date(2026, 10, 26)  # six weeks before it


def pattern(weekday: int, slot: int, week: int) -> float:
    """Calls offered per half hour: weekdays 09:00-17:00, more later in the week and the day;
    Monday 09:00 grows week by week; Friday 12:00 is a 10-Erlang peak."""
    if weekday == 0 and slot == 18:
        return 10.0 * (week + 1)
    if weekday == 4 and slot == 24:
        return 100.0
    return 10.0 + 2 * weekday + (slot - 18)


def write_weeks(conn: Connection, weeks: range) -> None:
    tz = WEEK.tz
    rows = []
    for week in weeks:
        for weekday in range(5):
            day = FIRST + dt.timedelta(weeks=week, days=weekday)
            for slot in range(18, 34):
                offered = int(pattern(weekday, slot, week))
                start = dt.datetime(
                    day.year, day.month, day.day, slot // 2, slot % 2 * 30, tzinfo=tz
                )
                for quarter, part in ((0, offered // 2), (900, offered - offered // 2)):
                    rows.append(
                        {
                            "grain": "q15",
                            "bucket": int(start.timestamp()) + quarter,
                            "scope": "center",
                            "key": "",
                            "offered": part,
                            "handled": part,
                            "talk_s": part * 180.0,
                        }
                    )
    conn.execute(m.report_traffic.insert(), rows)


@pytest.fixture
def conn() -> Iterator[Connection]:
    with memory_connection() as connection:
        yield connection


def cells(report: Report) -> dict[tuple[str, str], dict[str, object]]:
    table = report.table("forecast")
    names = [c.name for c in table.columns]
    return {(str(r[1]), str(r[2])): dict(zip(names, r, strict=True)) for r in table.rows}


def test_six_weeks_of_a_pattern_forecast_the_pattern(conn: Connection) -> None:
    write_weeks(conn, range(6))
    report = forecast.forecast_report(conn, WEEK)
    got = cells(report)
    assert report.range_label == "2026-W50"
    assert len(got) == 5 * 16  # weekdays 09:00-17:00, nothing on the weekend
    # a steady slot: Wednesday (weekday 2) 10:30 (slot 21) = 10 + 4 + 3 = 17 every week
    assert got[("2026-12-09", "10:30")]["offered"] == 17.0
    assert got[("2026-12-09", "10:30")]["aht"] == 180.0
    # Monday 09:00 was 10, 20, ..., 60: weights 1..6 give (10+40+90+160+250+360)/21 = 43.3
    assert got[("2026-12-07", "09:00")]["offered"] == 43.3
    # Friday 12:00: 100 calls of 180 s a half hour = 10 Erlangs -> 14 agents (Erlang C,
    # 80 % in 20 s); nobody abandoned, so Erlang A says the same
    peak = got[("2026-12-11", "12:00")]
    assert (peak["load"], peak["needed_c"], peak["needed_a"]) == (10.0, 14, 14)
    assert report.figure("peak_needed_c").value == 14
    assert report.figure("weeks").value == 6
    assert report.figure("aht").value == 180.0
    heat = report.chart("offered_heatmap")
    assert heat.kind == "heatmap" and len(heat.categories) == 48 and len(heat.series) == 7
    assert heat.series[2].values[21] == 17.0 and heat.series[5].values[21] == 0.0
    assert report.chart("needed_heatmap").series[4].values[24] == 14.0


def test_one_week_is_repeated_and_says_so(conn: Connection) -> None:
    write_weeks(conn, range(5, 6))  # only the last week before the forecast
    report = forecast.forecast_report(conn, WEEK)
    assert cells(report)[("2026-12-07", "09:00")]["offered"] == 60.0  # empty weeks left out
    assert report.figure("weeks").value == 1
    assert any("Only one week" in n for n in report.notes)


def test_no_history_is_a_message_not_a_crash(conn: Connection) -> None:
    report = forecast.forecast_report(conn, WEEK)
    assert report.tables == () and report.charts == ()
    assert "no history" in report.notes[0]


def test_the_patience_is_the_waits_over_the_abandons(conn: Connection) -> None:
    monday = dt.datetime(2026, 11, 30, 10, tzinfo=WEEK.tz)  # the week before WEEK
    traffic(
        conn,
        int(monday.timestamp()),
        offered=10,
        handled=8,
        abandoned=2,
        talk_s=8 * 120.0,
        wait_answered_s=100.0,
        wait_abandoned_s=200.0,
    )
    fc = forecast.make_forecast(conn, WEEK, "center", "")
    assert fc.patience_s == 150.0  # (100 + 200) s waited by all callers / 2 abandons
    assert fc.cells[(0, 20)] == (10.0, 120.0)
    with pytest.raises(ReportError):
        forecast.forecast_report(conn, WEEK, target=1.0)


def test_the_hour_repeated_at_the_fall_back_counts_once(conn: Connection) -> None:
    """Sunday 2026-11-01 01:00-02:00 happens twice in New York: 10 calls in each 01:00 half
    hour are a slot of 10 calls, as on any other Sunday, not 20."""
    first = dt.datetime(2026, 11, 1, 5, 0, tzinfo=dt.UTC)  # 01:00 EDT
    for utc in (first, first + dt.timedelta(hours=1)):  # 01:00 EDT, then 01:00 EST
        assert utc.astimezone(WEEK.tz).hour == 1
        traffic(conn, int(utc.timestamp()), offered=10, handled=10, talk_s=10 * 200.0)
    after = ReportRange.parse("week", "2026-11-02", zone=ZONE)
    fc = forecast.make_forecast(conn, after, "center", "", weeks=1)
    assert fc.cells == {(6, 2): (10.0, 200.0)}


def test_a_queue_forecast_counts_its_agents_wrap_up(conn: Connection) -> None:
    """A queue's traffic has no wrap-up (an agent state): its handle time takes its
    agents' wrap-up per handled call, over the same weeks."""
    noon = dt.datetime(2026, 12, 7, 4, tzinfo=dt.UTC)
    conn.execute(m.agents.insert().values(id=1, number="1001", name="A", created_at=noon))
    conn.execute(m.queues.insert().values(id=7, name="support", created_at=noon))
    conn.execute(m.queue_members.insert().values(queue_id=7, agent_id=1, penalty=0))
    bucket = int(dt.datetime(2026, 11, 30, 10, tzinfo=WEEK.tz).timestamp())
    traffic(conn, bucket, "queue", "7", offered=10, handled=10, talk_s=10 * 150.0)
    conn.execute(
        m.report_agent.insert().values(
            grain="q15", bucket=bucket, agent_id=1, handled=10, wrap_up_s=10 * 30.0
        )
    )
    fc = forecast.make_forecast(conn, WEEK, "queue", "7")
    assert fc.cells == {(0, 20): (10.0, 180.0)}  # 150 s talk + 30 s wrap-up
