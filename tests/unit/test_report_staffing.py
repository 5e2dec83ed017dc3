"""The staffing report on hand-made rollup rows: the agents a half hour needed, by hand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator

import pytest
from sqlalchemy.engine import Connection

from appliance.db import model as m
from appliance.reports import staffing
from appliance.reports.model import parse_drill_query
from appliance.reports.query import ReportError
from appliance.reports.ranges import ReportRange
from tests.support.report_db import memory_connection

ZONE = "Asia/Shanghai"  # UTC+8: local 09:00 is 01:00 UTC
DAY = ReportRange.parse("day", "2026-12-07", zone=ZONE)
NOON = dt.datetime(2026, 12, 7, 4, tzinfo=dt.UTC)


def at(hour: int, minute: int) -> int:
    """The UTC epoch of a local time on DAY."""
    local = dt.datetime(2026, 12, 7, hour, minute, tzinfo=DAY.tz)
    return int(local.timestamp())


@pytest.fixture
def conn() -> Iterator[Connection]:
    with memory_connection() as connection:
        yield connection


def traffic(
    conn: Connection, bucket: int, scope: str = "center", key: str = "", **v: float
) -> None:
    conn.execute(
        m.report_traffic.insert().values(grain="q15", bucket=bucket, scope=scope, key=key, **v)
    )


def logged_in(
    conn: Connection, bucket: int, agents: Iterable[int], seconds: float = 900, **v: float
) -> None:
    conn.execute(
        m.report_agent.insert(),
        [
            {"grain": "q15", "bucket": bucket, "agent_id": a, "logged_in_s": seconds, **v}
            for a in agents
        ],
    )


def busy_half_hour(conn: Connection, start: int, scope: str = "center", key: str = "") -> None:
    # Two quarter hours of 50 offered calls each: 48 handled at 150 s talk + 10 s hold +
    # 20 s wrap-up (AHT 180 s) and 2 abandoned; all callers waited 600 s in total.
    for q in (start, start + 900):
        traffic(
            conn,
            q,
            scope,
            key,
            offered=50,
            handled=48,
            abandoned=2,
            talk_s=48 * 150,
            hold_s=48 * 10,
            wrapup_s=48 * 20,
            wait_answered_s=400,
            wait_abandoned_s=200,
        )


def test_a_busy_half_hour_needs_what_erlang_c_and_a_say(conn: Connection) -> None:
    busy_half_hour(conn, at(9, 0))
    logged_in(conn, at(9, 0), range(1, 13))
    logged_in(conn, at(9, 15), range(1, 13))
    logged_in(conn, at(13, 0), range(1, 4), 450)  # quiet: 3 agents, half of one quarter
    report = staffing.staffing_report(conn, DAY)

    # 100 offered in 1800 s at 180 s AHT: 10 Erlangs. Erlang C for 80 % in 20 s: 13 agents
    # answer 79.56 %, 14 answer 88.84 % -> 14. The patience: 1200 s waited / 4 abandons =
    # 300 s; Erlang A (100 calls per 30 min, 3 min AHT, 5 min patience) answers 77.2 % with
    # 12 and 85.8 % with 13 (pyworkforce's published example) -> 13. 12 were logged in.
    table = report.table("half_hours")
    rows = {r[0]: dict(zip([c.name for c in table.columns], r, strict=True)) for r in table.rows}
    assert set(rows) == {"09:00", "13:00"}  # half hours with neither calls nor agents are left out
    busy = rows["09:00"]
    assert (busy["offered"], busy["aht"], busy["load"]) == (100, 180.0, 10.0)
    assert (busy["needed_c"], busy["needed_a"], busy["logged_in"], busy["short"]) == (
        14,
        13,
        12.0,
        1.0,
    )
    drill = parse_drill_query(str(busy["calls"]))
    assert drill == {
        "filter": "offered",
        "scope": "center",
        "key": "",
        "grain": "half",
        "bucket": str(at(9, 0)),
    }
    quiet = rows["13:00"]
    assert (quiet["offered"], quiet["needed_c"], quiet["needed_a"], quiet["logged_in"]) == (
        0,
        0,
        0,
        0.75,
    )
    assert quiet["calls"] is None and quiet["aht"] is None  # no calls, no handle time

    assert report.figure("patience").value == 300.0
    assert report.figure("peak_needed_c").value == 14
    assert report.figure("peak_needed_a").value == 13
    assert report.figure("understaffed").value == 1
    chart = report.chart("needed")
    assert chart.categories == ("09:00", "13:00")
    assert [s.values for s in chart.series] == [(14.0, 0.0), (13.0, 0.0), (12.0, 0.75)]
    assert chart.buckets == (("half", at(9, 0)), ("half", at(13, 0)))


def test_a_queue_uses_its_threshold_and_its_agents(conn: Connection) -> None:
    conn.execute(m.skills.insert(), [{"id": 1, "name": "tech"}, {"id": 2, "name": "sales"}])
    conn.execute(
        m.agents.insert(),
        [
            {"id": i, "number": str(1000 + i), "name": f"A{i}", "created_at": NOON}
            for i in range(1, 6)
        ],
    )
    conn.execute(
        m.queues.insert().values(id=7, name="support", service_level_s=30, created_at=NOON)
    )
    conn.execute(m.queue_skills.insert().values(queue_id=7, skill_id=1, min_level=3))
    conn.execute(
        m.agent_skills.insert(),
        [
            {"agent_id": 1, "skill_id": 1, "level": 5},  # qualified
            {"agent_id": 2, "skill_id": 1, "level": 2},  # below the minimum
            {"agent_id": 3, "skill_id": 2, "level": 9},  # another skill
        ],
    )
    conn.execute(m.queue_members.insert().values(queue_id=7, agent_id=4, penalty=0))
    traffic(conn, at(10, 0), "queue", "7", offered=100, handled=100, talk_s=100 * 150)
    # all five logged in the whole half hour; a queue's traffic has no wrap-up (an agent
    # state): its agents' is 30 s per call they handled, the others' (not counted) 600 s
    logged_in(conn, at(10, 0), (1, 4), 1800, handled=50, wrap_up_s=50 * 30.0)
    logged_in(conn, at(10, 0), (2, 3, 5), 1800, handled=10, wrap_up_s=10 * 600.0)
    report = staffing.staffing_report(conn, DAY, "queue", "7")
    (row,) = report.table("half_hours").rows
    # the queue's agents: 1 (skill) and 4 (member) -> 2 logged in; AHT 150 s talk + 30 s
    # wrap-up; 30 s threshold: Erlang C answers 67.8 % with 12 and 82.7 % with 13 -> 13; no
    # abandons: Erlang A = Erlang C
    assert row[0] == "10:00" and row[2:7] == (180.0, 10.0, 13, 13, 2.0)
    assert report.figure("patience").value is None
    assert any("Erlang A equals Erlang C" in n for n in report.notes)


def test_bad_requests_are_refused(conn: Connection) -> None:
    with pytest.raises(ReportError):
        staffing.staffing_report(conn, DAY, "agent", "3")
    with pytest.raises(ReportError):
        staffing.staffing_report(conn, ReportRange.parse("quarter", "2026-Q4", zone=ZONE))
    with pytest.raises(ReportError):
        staffing.staffing_report(conn, DAY, "queue", "99")  # no such queue


def test_an_empty_range_says_so(conn: Connection) -> None:
    report = staffing.staffing_report(conn, DAY)
    assert report.table("half_hours").rows == ()
    assert report.figure("peak_needed_a").value == 0
    assert any("No calls" in n for n in report.notes)


def test_the_catalog_builds_staffing_and_forecast(conn: Connection) -> None:
    from appliance.config import ReportsConfig
    from appliance.reports import catalog

    busy_half_hour(conn, at(9, 0))
    report = catalog.build_report_in(conn, "staffing", DAY, "center", "", ReportsConfig())
    assert report.kind == "staffing" and report.table("half_hours").rows[0][4] == 14
    week = ReportRange.parse("week", "2026-12-14", zone=ZONE)  # the week after DAY's
    report = catalog.build_report_in(conn, "forecast", week, "center", "", ReportsConfig())
    assert report.kind == "forecast" and report.figure("offered").value == 100.0


def test_the_target_and_the_weeks_come_from_the_config(conn: Connection) -> None:
    from appliance.config import parse
    from appliance.reports import catalog

    settings = parse("[reports]\nstaffing_target_pct = 90\nforecast_weeks = 1\n").reports
    busy_half_hour(conn, at(9, 0))
    report = catalog.build_report_in(conn, "staffing", DAY, "center", "", settings)
    # 90 % in 20 s at 10 Erlangs: Erlang C answers 88.8 % with 14, 94.1 % with 15
    assert report.table("half_hours").rows[0][4] == 15
    two_weeks_on = ReportRange.parse("week", "2026-12-21", zone=ZONE)
    report = catalog.build_report_in(conn, "forecast", two_weeks_on, "center", "", settings)
    assert report.tables == ()  # one week back holds nothing: DAY is two weeks back


def test_an_absurd_load_is_left_blank_not_searched() -> None:
    # 1,000 calls of 10 hours each in half an hour: 20,000 Erlangs, no center's
    assert staffing.agents_for(1000, 36000.0, threshold_s=20) == (20000.0, None, None)
    assert staffing.agents_for(100, 180.0, threshold_s=20, patience_s=300.0) == (10.0, 14, 13)
