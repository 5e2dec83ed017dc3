"""The report kinds besides traffic, on rollup rows written by hand (the figures worked out
in the comments), and the async entry point through the real database connector."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection, Engine

from appliance.cli import resolved
from appliance.config import ReportsConfig
from appliance.db import model as m
from appliance.reports import catalog
from appliance.reports.model import Report
from appliance.reports.ranges import ReportRange
from appliance.text import Message
from tests.conftest import BACKENDS
from tests.support.inline_db import inline_db
from tests.support.report_db import report_engine

SETTINGS = ReportsConfig(timezone="UTC")
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
# December 2026: whole month, so the reports read the month rows; 1-6 December as a custom
# range reads the day rows. Rows are written at both grains, alike.
MONTH = ReportRange.parse("month", "2026-12", zone="UTC")
SIX_DAYS = ReportRange.parse("custom", "2026-12-01", "2026-12-07", zone="UTC")


def _both(row: dict[str, object]) -> list[dict[str, object]]:
    return [
        {**row, "grain": "month", "bucket": 202612},
        {**row, "grain": "day", "bucket": 20261203},
    ]


def seed(conn: Connection) -> None:
    conn.execute(
        m.agents.insert(),
        [
            {"id": 1, "number": "1001", "name": "Ann", "department": "sales", "created_at": NOW},
            {"id": 2, "number": "1002", "name": "Bo", "department": "sales", "created_at": NOW},
            {"id": 3, "number": "1003", "name": "Cy", "department": "care", "created_at": NOW},
        ],
    )
    conn.execute(m.queues.insert().values(id=4, name="sales", created_at=NOW))
    conn.execute(m.ivr_flows.insert().values(id=9, name="main", updated_at=NOW))
    conn.execute(
        m.qa_forms.insert().values(
            id=5,
            name="basic",
            created_at=NOW,
            definition=json.dumps(
                {
                    "groups": [
                        {"name": "g", "weight": 1, "questions": [{"id": "greet", "text": "Greets"}]}
                    ]
                }
            ),
        )
    )
    # Agent 1: 8 h logged in, 1 h paused, 4 h talk, 1 h wrap-up: occupancy (4+1)/(8-1) = 71.4 %
    # Agent 2: 4 h logged in, 2 h paused, 1 h talk, 0 wrap-up:   occupancy 1/(4-2) = 50.0 %
    # sales: (5 + 1) / (12 - 3) = 66.7 %
    agents = [
        (1, 28800, 3600, 14400, 3600, 3600, 30, 2),
        (2, 14400, 3600, 3600, 0, 7200, 10, 0),
    ]
    for aid, logged, ready, talk, wrap, paused, handled, missed in agents:
        conn.execute(
            m.report_agent.insert(),
            _both(
                {
                    "agent_id": aid,
                    "logged_in_s": logged,
                    "available_s": ready,
                    "on_call_s": talk,
                    "wrap_up_s": wrap,
                    "paused_s": paused,
                    "handled": handled,
                    "missed": missed,
                }
            ),
        )
    pauses = [(1, "lunch", 3600, 1), (2, "lunch", 1200, 1), (2, "training", 5400, 2)]
    for aid, reason, seconds, count in pauses:
        conn.execute(
            m.report_pause.insert(),
            _both({"agent_id": aid, "reason": reason, "seconds": seconds, "count": count}),
        )
    # IVR: node "menu" entered 100 times: 60 chose 1, 30 chose 2, 10 hung up there
    for outcome, count in (("entered", 100), ("branch:1", 60), ("branch:2", 30), ("hangup", 10)):
        conn.execute(
            m.report_ivr.insert(),
            _both({"flow_id": 9, "node": "menu", "outcome": outcome, "count": count}),
        )
    # Outbound campaign 7: 40 answered (talk 4000 s, wait 80 s), 10 abandoned, 50 no answer
    # abandon rate 10 / (40 + 10) = 20.0 %; average talk 100.0 s
    for outcome, count, talk, wait in (
        ("answered", 40, 4000, 80),
        ("abandoned", 10, 0, 50),
        ("no_answer", 50, 0, 0),
    ):
        conn.execute(
            m.report_outbound.insert(),
            _both(
                {
                    "campaign_id": 7,
                    "outcome": outcome,
                    "count": count,
                    "talk_s": talk,
                    "wait_s": wait,
                }
            ),
        )
    # QA: agent 1 scored 80 and 90 in queue 4 (avg 85.0); agent 3 scored 60 with no queue;
    # all: 230 / 3 = 76.7. Item "greet": points 1, 1, 0 -> 0.67
    for aid, qid, item, score_sum, count in (
        (1, 4, "", 170, 2),
        (3, 0, "", 60, 1),
        (1, 4, "greet", 2, 2),
        (3, 0, "greet", 0, 1),
    ):
        conn.execute(
            m.report_qa.insert(),
            _both(
                {
                    "agent_id": aid,
                    "queue_id": qid,
                    "form_id": 5,
                    "item": item,
                    "score_sum": score_sum,
                    "count": count,
                }
            ),
        )


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with report_engine(backend, tmp_path_factory.mktemp("kinds")) as engine:
        with engine.begin() as conn:
            seed(conn)
        yield engine


def build(
    engine: Engine, kind: str, rng: ReportRange, scope: str = "center", key: str = ""
) -> Report:
    with engine.connect() as conn:
        return catalog.build_report_in(conn, kind, rng, scope, key, SETTINGS)


@pytest.mark.parametrize("rng", [MONTH, SIX_DAYS], ids=["month rows", "day rows"])
def test_agent_workload_and_occupancy(engine: Engine, rng: ReportRange) -> None:
    report = build(engine, "agents", rng)
    assert report.figure("occupancy").value == round(100 * 6 / 9, 1)
    assert report.figure("adherence").value is None and report.notes
    agents = report.table("by_agent")
    occupancy = agents.column_index("occupancy")
    assert [(r[0], r[occupancy]) for r in agents.rows] == [("1001 Ann", 71.4), ("1002 Bo", 50.0)]
    depts = report.table("by_department")
    assert [(r[0], r[depts.column_index("occupancy")]) for r in depts.rows] == [("sales", 66.7)]
    pauses = report.table("pause_reasons")
    # the reasons by their names, marked for translation: a Chinese page reads 培训, not the code
    assert [r[:3] for r in pauses.rows] == [("Training", 2, 5400.0), ("Lunch", 2, 4800.0)]
    assert all(isinstance(r[0], Message) for r in pauses.rows)
    chart = next(c for c in report.charts if c.name == "pause_reasons")
    assert chart.categories == ("Training", "Lunch")
    assert all(isinstance(c, Message) for c in chart.categories)
    one = build(engine, "agents", rng, "agent", "2")
    assert one.figure("occupancy").value == 50.0 and len(one.table("by_agent").rows) == 1


def test_ivr_per_node(engine: Engine) -> None:
    report = build(engine, "ivr", MONTH, "flow", "9")
    assert report.table("nodes").rows == (("main", "menu", 100, 90, 10, 10.0),)
    assert report.table("choices").rows == (
        ("main", "menu", "1", 60, 60.0),
        ("main", "menu", "2", 30, 30.0),
    )


def test_outbound_per_campaign(engine: Engine) -> None:
    report = build(engine, "outbound", SIX_DAYS)
    assert report.figure("attempts").value == 100
    assert (report.figure("abandon_rate").value, report.figure("avg_talk").value) == (20.0, 100.0)


def test_qa_by_agent_queue_and_item(engine: Engine) -> None:
    report = build(engine, "qa", MONTH)
    assert report.figure("average").value == 76.7
    assert report.table("by_agent").rows == (("1001 Ann", 2, 85.0), ("1003 Cy", 1, 60.0))
    assert report.table("by_queue").rows == (("No queue", 1, 60.0), ("sales", 2, 85.0))
    assert report.table("by_item").rows == (("basic", "Greets", 3, 0.67),)
    assert build(engine, "qa", MONTH, "agent", "3").figure("average").value == 60.0


def test_the_async_entry_point_runs_in_the_database_pool(tmp_path: Path) -> None:
    from twisted.internet import defer

    with inline_db(tmp_path / "a.db") as db:
        report = resolved(
            defer.ensureDeferred(catalog.build_report(db, "traffic", MONTH, "center", "", SETTINGS))
        )
    assert report.kind == "traffic" and report.range_label == "2026-12"
    assert report.figure("offered").value == 0 and report.figure("sl_answered").value is None
