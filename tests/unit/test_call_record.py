"""ivr/call_record.py: what a call's session writes on its calls row, and when."""

from __future__ import annotations

import datetime as dt

import pytest
from twisted.internet import defer

from acd.service import Agent
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from ivr import call_record
from ivr.call_record import CallRecord

T0 = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)


def test_the_talk_ends_with_the_queue_step_not_with_the_flow(
    db: DBConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent answers at +10 s and the Dial returns at +70 s; the flow then plays a
    survey until +100 s: 60 s of talk, the answer written at once, the event once."""
    clock = [T0]
    monkeypatch.setattr(call_record, "now", lambda: clock[0])
    agent = resolved(db.agents.add("1001", "Li Wei"))
    queue = resolved(db.queues.add("support"))
    call_id = resolved(db.calls.start("6.1", "6.1", "inbound", T0))
    record = CallRecord(db, call_id, answered_at=T0)
    record.agent_answered(
        Agent(agent.id, "1001", "Li Wei", "PJSIP/1001", "active"),
        (T0 + dt.timedelta(seconds=10)).timestamp(),
        queue.id,
    )
    row = resolved(db.calls.get(call_id))
    assert row is not None and row["agent_answered_at"] == T0 + dt.timedelta(seconds=10)
    clock[0] = T0 + dt.timedelta(seconds=70)
    resolved(defer.ensureDeferred(record.event("answered", {"agent": agent.id, "queue": queue.id})))
    clock[0] = T0 + dt.timedelta(seconds=100)
    resolved(defer.ensureDeferred(record.close()))
    row = resolved(db.calls.get(call_id))
    assert row is not None
    assert (row["talk_ms"], row["ended_at"], row["agent_id"], row["queue_id"]) == (
        60_000,
        T0 + dt.timedelta(seconds=100),
        agent.id,
        queue.id,
    )
    assert [k for k, _ in resolved(db.calls.events(call_id))] == ["answered", "hangup"]


def test_a_session_lost_while_talking_counts_the_talk_to_its_end(
    db: DBConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [T0 + dt.timedelta(seconds=45)]
    monkeypatch.setattr(call_record, "now", lambda: clock[0])
    agent = resolved(db.agents.add("1001", "Li Wei"))
    call_id = resolved(db.calls.start("6.2", "6.2", "inbound", T0))
    record = CallRecord(db, call_id)
    record.agent_answered(
        Agent(agent.id, "1001", "Li Wei", "PJSIP/1001", "active"),
        (T0 + dt.timedelta(seconds=5)).timestamp(),
        None,
    )
    resolved(defer.ensureDeferred(record.close()))
    row = resolved(db.calls.get(call_id))
    assert row is not None and (row["talk_ms"], row["queue_id"]) == (40_000, None)
