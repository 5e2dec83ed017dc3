"""Service level, abandons and waits on a hand-made day of calls: raw rows counted by the
rollup maintainer, read back as the traffic report, and the calls behind every figure.

The center is in Asia/Shanghai; queue 1 (service level 20 s) and queue 2 (20 s); short
abandons are under 5 s. Thirteen calls on Monday 2026-12-07, queued from 10:00 local
(02:00 UTC), one at 10:30. Waits in seconds:

   1 answered  5 (in SL)      2 answered 20 (in SL: <= 20)   3 answered 21 (late)
   4 answered 45 (late, transferred)                          12 answered 10 at 10:30 (in SL)
   5 abandoned 3 (short)      6 abandoned 5 (not short: < 5) 7 abandoned 25
   8 abandoned 400            9 voicemail 60                 10 overflowed to an extension 90
  11 never queued (IVR only)  13 joined queue 1, overflowed into queue 2, answered there 30

Center: offered 12 (not 11), answered 6, in SL 3 (1, 2, 12), abandoned 4, short 1 (5).
  SL of answered  = 3 / 6  = 50.0 %      SL of offered = 3 / 12 = 25.0 %
  abandon rate    = 4 / 12 = 33.3 %      ASA = (5+20+21+45+10+30) / 6 = 131 / 6 = 21.8 s
  average wait    = (131 + 3+5+25+400) / (6 + 4) = 564 / 10 = 56.4 s; longest 400 s
  abandons by wait: 0-10: 2 (3 s, 5 s), 20-30: 1, 300+: 1
  handled 6, talk 100 s each, call 1 held 30 s: AHT = (600 + 30) / 6 = 105.0 s
Queue 1: offered 12 (13 counts here as offered and overflowed), answered 5, in SL 3,
  overflowed 2 (10 and 13): SL of answered 60.0 %, of offered 25.0 %.
Queue 2: offered 1, answered 1 (30 s: late): SL 0.0 %.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from appliance.config import ReportsConfig
from appliance.db import model as m
from appliance.reports import catalog, drill, maintainer, rollup_db
from appliance.reports.query import ReportError
from appliance.reports.ranges import ReportRange
from tests.conftest import BACKENDS
from tests.support.report_db import report_engine

ZONE = "Asia/Shanghai"
SETTINGS = ReportsConfig(timezone=ZONE, short_abandon_s=5)
DAY = ReportRange.parse("day", "2026-12-07", zone=ZONE)
T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)  # 10:00 local

# (call, queue, overflow queue, outcome, wait s, minutes after 10:00, transfers)
CALLS = [
    (1, 1, None, "answered", 5, 0, 0),
    (2, 1, None, "answered", 20, 1, 0),
    (3, 1, None, "answered", 21, 2, 0),
    (4, 1, None, "answered", 45, 3, 1),
    (5, 1, None, "abandoned", 3, 4, 0),
    (6, 1, None, "abandoned", 5, 5, 0),
    (7, 1, None, "abandoned", 25, 6, 0),
    (8, 1, None, "abandoned", 400, 7, 0),
    (9, 1, None, "voicemail", 60, 8, 0),
    (10, 1, None, "extension", 90, 9, 0),
    (11, None, None, None, None, 10, 0),
    (12, 1, None, "answered", 10, 31, 0),
    (13, 1, 2, "answered", 30, 12, 0),
]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with report_engine(backend, tmp_path_factory.mktemp("sl")) as engine:
        yield engine


@pytest.fixture(scope="module")
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.begin() as c:
        c.execute(
            m.queues.insert(),
            [{"id": i, "name": n, "created_at": T0} for i, n in ((1, "sales"), (2, "support"))],
        )
        c.execute(m.agents.insert().values(id=7, number="1007", name="Ann", created_at=T0))
        for cid, queue, over, outcome, wait, minute, transfers in CALLS:
            started = T0 + dt.timedelta(minutes=minute)
            answered = outcome == "answered"
            queued = started + dt.timedelta(seconds=2) if queue else None
            c.execute(
                m.calls.insert().values(
                    id=cid,
                    uniqueid=f"u{cid}",
                    linkedid=f"u{cid}",
                    direction="inbound",
                    called_number="4001",
                    started_at=started,
                    ended_at=started + dt.timedelta(minutes=5),
                    entry_queue_id=queue,
                    queue_id=over or queue,
                    queued_at=queued,
                    overflow_queue_id=over,
                    queue_outcome=outcome,
                    wait_ms=None if wait is None else wait * 1000,
                    agent_id=7 if answered else None,
                    agent_answered_at=started + dt.timedelta(seconds=wait or 0)
                    if answered
                    else None,
                    talk_ms=100_000 if answered else None,
                    hold_ms=30_000 if cid == 1 else None,
                    transfers=transfers,
                )
            )
            rollup_db.inbox_add(c, rollup_db.CALL, cid)
        c.execute(
            m.recordings.insert().values(
                id=55, call_id=1, path="2026/12/07/1.wav", started_at=T0, queue_id=1
            )
        )
        world = rollup_db.load_world(c, ZONE, SETTINGS.short_abandon_s)
        assert maintainer.drain_batch(c, world).drained == len(CALLS)
    with engine.connect() as c:
        yield c


def figures(conn: Connection, scope: str = "center", key: str = "") -> dict[str, float | None]:
    report = catalog.build_report_in(conn, "traffic", DAY, scope, key, SETTINGS)
    return {f.name: f.value for f in report.figures}


def test_both_service_level_definitions_and_the_waits(conn: Connection) -> None:
    f = figures(conn)
    assert (f["offered"], f["answered"], f["abandoned"], f["abandoned_short"]) == (12, 6, 4, 1)
    assert (f["sl_answered"], f["sl_offered"], f["abandon_rate"]) == (50.0, 25.0, 33.3)
    assert (f["asa"], f["avg_wait"], f["max_wait"]) == (21.8, 56.4, 400)
    assert (f["overflowed"], f["voicemail"], f["transferred"]) == (2, 1, 1)
    assert (f["handled"], f["avg_talk"], f["avg_hold"], f["aht"]) == (6, 100.0, 5.0, 105.0)


def test_an_overflow_counts_at_both_queues_as_the_readme_says(conn: Connection) -> None:
    q1, q2 = figures(conn, "queue", "1"), figures(conn, "queue", "2")
    assert (q1["offered"], q1["answered"], q1["overflowed"]) == (12, 5, 2)
    assert (q1["sl_answered"], q1["sl_offered"]) == (60.0, 25.0)
    assert q1["avg_wrapup"] is None and figures(conn)["avg_wrapup"] == 0.0  # an agent's time
    report = catalog.build_report_in(conn, "traffic", DAY, "center", "", SETTINGS)
    assert sorted(report.table("overflow").rows) == [
        ("sales", "An extension", "", 1),
        ("sales", "Another queue", "support", 1),
    ]
    assert (q2["offered"], q2["answered"], q2["sl_answered"], q2["sl_offered"]) == (1, 1, 0.0, 0.0)


def test_abandon_times_and_the_half_hour_trend(conn: Connection) -> None:
    report = catalog.build_report_in(conn, "traffic", DAY, "center", "", SETTINGS)
    bins = report.chart("abandon_times")
    assert dict(zip(bins.categories, bins.series[0].values, strict=True)) == {
        "0-10": 2,
        "10-20": 0,
        "20-30": 1,
        "30-60": 0,
        "60-120": 0,
        "120-300": 0,
        "300+": 1,
    }
    trend = report.chart("trend")
    assert len(trend.categories) == 48  # half hours
    ten, half_past = trend.categories.index("10:00"), trend.categories.index("10:30")
    offered = trend.series[0].values
    assert (offered[ten], offered[half_past], sum(v or 0 for v in offered)) == (11, 1, 12)
    assert trend.buckets[ten] == (
        "half",
        int(dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC).timestamp()),
    )
    heat = report.chart("heatmap")  # Monday, 10:00 local
    assert heat.series[0].values[10] == 12
    assert sum(v or 0 for s in heat.series for v in s.values) == 12


@pytest.mark.parametrize(("scope", "key"), [("center", ""), ("queue", "1"), ("queue", "2")])
def test_the_calls_behind_every_figure_are_as_many_as_it_counts(
    conn: Connection, scope: str, key: str
) -> None:
    report = catalog.build_report_in(conn, "traffic", DAY, scope, key, SETTINGS)
    drilled = [f for f in report.figures if f.drill and f.unit == "count"]
    assert {f.drill for f in drilled} >= {"offered", "answered", "abandoned", "overflowed"}
    for f in drilled:
        assert f.drill is not None
        page = drill.drill_calls_in(conn, f.drill, DAY, scope, key, settings=SETTINGS, per_page=200)
        assert (f.name, page.total, len(page.calls)) == (f.name, f.value, f.value)
    late = drill.drill_calls_in(conn, "answered_late", DAY, scope, key, settings=SETTINGS)
    sl = report.figure("sl_answered").value
    answered = report.figure("answered").value
    assert sl is not None and answered
    assert late.total == round(answered * (1 - sl / 100))


def test_a_half_hour_drill_lists_its_calls_with_their_recordings(conn: Connection) -> None:
    ten = int(dt.datetime(2026, 12, 7, 2, tzinfo=dt.UTC).timestamp())
    page = drill.drill_calls_in(
        conn, "offered", DAY, grain="half", bucket=ten, sort="wait", descending=True
    )
    assert page.total == 11 and [c.wait_s for c in page.calls][:2] == [400.0, 90.0]
    first = drill.drill_calls_in(conn, "answered", DAY, grain="half", bucket=ten, sort="wait")
    assert [(c.call_id, c.recording_id, c.agent) for c in first.calls][:2] == [
        (1, 55, "1007 Ann"),
        (2, None, "1007 Ann"),
    ]
    later = drill.drill_calls_in(conn, "offered", DAY, grain="half", bucket=ten + 1800)
    assert [c.call_id for c in later.calls] == [12]


def test_sorting_refuses_columns_outside_the_allowlist(conn: Connection) -> None:
    report = catalog.build_report_in(conn, "traffic", DAY, "center", "", SETTINGS)
    table = report.table("by_queue")
    by_offered = catalog.sort_table(table, "offered", descending=True)
    assert [r[0] for r in by_offered.rows] == ["sales", "support"]
    for bad in ("drill", "offered; drop table calls", "__class__"):
        with pytest.raises(ReportError):
            catalog.sort_table(table, bad)
        with pytest.raises(ReportError):
            drill.drill_calls_in(conn, "offered", DAY, sort=bad)


def test_a_wrong_scope_or_key_is_refused_before_any_query(conn: Connection) -> None:
    for kind, scope, key in [
        ("ivr", "queue", "1"),  # the IVR report is per flow
        ("traffic", "queue", "1 OR 1=1"),
        ("traffic", "center", "1"),
        ("traffic", "agent", ""),
        ("volumes", "did", "4001"),  # recordings are not counted per number
        ("nonsense", "center", ""),
    ]:
        with pytest.raises(ReportError):
            catalog.build_report_in(conn, kind, DAY, scope, key, SETTINGS)
    assert conn.execute(sa.select(sa.func.count()).select_from(m.calls)).scalar_one() == 13
