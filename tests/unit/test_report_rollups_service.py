"""The stores put what they write in the report inbox, and the maintainer service (driven by
a fake clock) counts it: a queue call from its first queue entry to its end, agent states,
a QA score, a callback request, a voicemail, a recording, a dial attempt; a transferred
call finished twice counts once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from twisted.internet.task import Clock

from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector
from appliance.reports.maintainer import ReportMaintainer
from tests.unit.test_qa_form import ALL_GOOD, FORM

UTC = dt.UTC
T0 = dt.datetime(2026, 11, 1, 5, 50, tzinfo=UTC)  # 01:50 EDT, before the repeated hour
ZONE = "America/New_York"


def _s(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _traffic(db: DBConnector, grain: str, bucket: int, scope: str, key: str) -> dict[str, Any]:
    t = model.report_traffic

    def thd(conn: sa.Connection) -> dict[str, Any]:
        row = conn.execute(
            sa.select(t).where(
                t.c.grain == grain, t.c.bucket == bucket, t.c.scope == scope, t.c.key == key
            )
        ).first()
        return dict(row._mapping) if row else {}

    return resolved(db.run(thd))


def _all(db: DBConnector, table: sa.Table, grain: str = "day") -> list[dict[str, Any]]:
    def thd(conn: sa.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(sa.select(table).where(table.c.grain == grain)).all()
        return [dict(r._mapping) for r in rows]

    return resolved(db.run(thd))


def _inbox(db: DBConnector) -> int:
    def thd(conn: sa.Connection) -> int:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(model.report_inbox)).scalar_one()
        )

    return resolved(db.run(thd))


def test_the_stores_fill_the_inbox_and_the_service_counts_it(db: DBConnector) -> None:
    agent = resolved(db.agents.add("1001", "Li", department="sales")).id
    queue = resolved(db.queues.add("support", service_level_s=20)).id
    other = resolved(db.queues.add("overflow")).id
    resolved(db.calls.load_ids())

    # a call: joins the queue 10 s after it started, overflows into another one, an agent
    # answers after 15 s of waiting, 2 minutes of talk with 30 s on hold
    call, _ = db.calls.open_row("1.1", "1.1", "inbound", _s(0), called_number="400")
    resolved(db.calls.queue_visit(call, joined=(_s(10), queue)))
    resolved(db.calls.agent_answered(call, _s(25), agent, other))
    resolved(db.calls.queue_visit(call, left=("answered", 15_000, other)))
    resolved(db.calls.add_hold(call, 30_000))
    resolved(
        db.calls.finish(
            call, _s(145), _s(0), None, "completed", queue_id=other, agent_id=agent, talk_ms=120_000
        )
    )
    # a call an agent transferred: its row finished by two sessions
    moved, _ = db.calls.open_row("1.2", "1.2", "inbound", _s(60))
    resolved(db.calls.queue_visit(moved, joined=(_s(61), queue)))
    resolved(db.calls.agent_answered(moved, _s(63), agent, queue))
    resolved(db.calls.queue_visit(moved, left=("answered", 2_000, queue)))
    resolved(db.calls.finish(moved, _s(90), _s(60), None, "transferred", talk_ms=27_000))
    # agent states: available 60 s, on a call 100 s, wrap-up 20 s, paused for lunch
    for at, state, reason in (
        (0, "available", ""),
        (60, "on_call", ""),
        (160, "wrap_up", ""),
        (180, "paused", "lunch"),
    ):
        resolved(db.acd.save_state(agent, state, reason, _s(at)))
    form = resolved(db.qa.add_form("Standard", FORM, "qa"))
    rec = resolved(
        db.recordings.add(
            call, "2026/11/01/r.wav", _s(25), 120_000, 1, "0" * 64, agent_id=agent, queue_id=other
        )
    )
    resolved(db.qa.evaluate(rec, form.id, ALL_GOOD, "qa", at=_s(300)))
    resolved(db.acd.add_callback(queue, "555", "", 0, _s(40), source="web"))
    resolved(db.voicemail.add("queue-1", "v.wav", 30_000, "555", "", received_at=_s(50)))
    assert _inbox(db) == 9 + 1  # two finishes, four states, rec, qa, callback, voicemail

    clock = Clock()
    service = ReportMaintainer(db, clock, ZONE, short_abandon_s=5, interval_s=5)
    service.startService()
    clock.advance(5)
    assert _inbox(db) == 0 and service.drained == 10

    # the transferred call's next session ends: counted again, not twice
    resolved(db.calls.finish(moved, _s(200), None, None, "completed", talk_ms=50_000))
    clock.advance(5)
    assert service.drained == 11

    day = 20261101
    center = _traffic(db, "day", day, "center", "")
    assert (center["calls"], center["offered"], center["answered"]) == (2, 2, 2)
    assert (center["answered_in_sl"], center["overflowed"], center["transferred"]) == (2, 1, 1)
    assert center["talk_s"] == 120 + 27 + 50 and center["hold_s"] == 30
    assert center["wait_answered_s"] == 17 and center["wait_max_s"] == 15
    assert (center["callbacks"], center["voicemails"], center["voicemail_s"]) == (1, 1, 30)
    assert (center["recordings"], center["recording_s"]) == (1, 120)
    assert center["wrapup_s"] == 20
    entry = _traffic(db, "day", day, "queue", str(queue))
    assert (entry["offered"], entry["overflowed"], entry["answered"]) == (2, 1, 1)
    into = _traffic(db, "day", day, "queue", str(other))
    assert (into["offered"], into["answered"], into["overflowed"]) == (1, 1, 0)
    assert _traffic(db, "day", day, "did", "400")["calls"] == 1
    assert _traffic(db, "day", day, "department", "sales")["handled"] == 2
    assert _all(db, model.report_overflow)[0]["target"] == str(other)
    (a,) = _all(db, model.report_agent)
    assert (a["available_s"], a["on_call_s"], a["wrap_up_s"], a["handled"]) == (60, 100, 20, 2)
    assert a["logged_in_s"] == 180  # the pause is open: counted when it ends
    (qa,) = [r for r in _all(db, model.report_qa) if r["item"] == ""]
    assert (qa["agent_id"], qa["queue_id"], qa["count"], qa["score_sum"]) == (agent, other, 1, 100)
    hour = int(dt.datetime(2026, 11, 1, 5, tzinfo=UTC).timestamp())  # 01:00 EDT
    assert _traffic(db, "hour", hour, "center", "")["calls"] == 2

    resolved(db.acd.save_state(agent, "available", "", _s(240)))  # back from lunch
    d = service.stopService()  # a last drain on the way out
    assert d is not None and d.called
    (pause,) = _all(db, model.report_pause)
    assert (pause["reason"], pause["seconds"], pause["count"]) == ("lunch", 60, 1)


def test_a_finished_dial_attempt_is_counted_for_its_campaign(db: DBConnector) -> None:
    queue = resolved(db.queues.add("outbound")).id

    def campaign(conn: sa.Connection) -> None:
        conn.execute(model.campaigns.insert().values(id=7, name="c", queue_id=queue, created_at=T0))

    resolved(db.run(campaign))
    first = resolved(db.dialer.start_attempt(7, None, started_at=_s(0)))
    resolved(db.dialer.finish_attempt(first, "answered", _s(100), answered_at=_s(10), wait_ms=900))
    assert resolved(db.dialer.finish_attempt(first, "busy", _s(101))) is False  # once
    resolved(db.dialer.start_attempt(7, None, started_at=_s(5)))
    resolved(db.dialer.release_dialing(7, _s(50)))  # a crash left it open: failed
    clock = Clock()
    service = ReportMaintainer(db, clock, ZONE)
    service.startService()
    clock.advance(5)
    service.stopService()
    rows = {r["outcome"]: r for r in _all(db, model.report_outbound)}
    assert set(rows) == {"answered", "failed"}
    assert (rows["answered"]["count"], rows["answered"]["talk_s"]) == (1, 90)
    assert rows["answered"]["wait_s"] == 0.9
    camp = _traffic(db, "day", 20261101, "campaign", "7")
    assert (camp["calls"], camp["answered"], camp["outbound"]) == (2, 1, 2)


def test_a_drain_waits_for_the_calls_rows_writes_a_minute_at_most(db: DBConnector) -> None:
    """While calls writes wait in the write backlog the maintainer skips its ticks (its
    transaction would hold the one SQLite writer those writes need), for YIELD_MAX_S at most;
    once the writes are in, it drains at every tick again."""
    import sqlite3

    from appliance.reports.maintainer import YIELD_MAX_S

    clock = Clock()
    db.backlog.clock = clock  # the backlog's retries on the test's clock
    resolved(db.calls.load_ids())
    call, _ = db.calls.open_row("2.1", "2.1", "inbound", _s(0))
    resolved(db.calls.finish(call, _s(30), None, None, "completed"))
    assert _inbox(db) == 1
    refusing = [True]

    def locked(conn: sa.Connection) -> None:
        if refusing[0]:
            raise sqlite3.OperationalError("database is locked")

    db.backlog.submit("call 2 event test", call, locked)
    assert db.backlog.waiting == 1
    service = ReportMaintainer(db, clock, ZONE, interval_s=5)
    service.startService()
    clock.advance(5)
    assert (service.drained, service.yielded, _inbox(db)) == (0, 1, 1)
    for _ in range(int(YIELD_MAX_S / 5) - 2):
        clock.advance(5)
    assert service.drained == 0 and db.backlog.waiting == 1
    clock.advance(5)  # a minute of waiting writes: the rollups go on all the same
    clock.advance(5)
    assert service.drained == 1 and _inbox(db) == 0
    resolved(db.calls.finish(call, _s(40), None, None, "completed"))
    clock.advance(5)
    assert service.drained == 1  # writes wait again: the minute starts over
    refusing[0] = False
    clock.advance(10)  # the backlog's retry (10 s apart by now) writes it and the finish
    assert db.backlog.waiting == 0
    clock.advance(5)  # the next tick drains
    assert service.drained == 2 and _inbox(db) == 0
    service.stopService()
