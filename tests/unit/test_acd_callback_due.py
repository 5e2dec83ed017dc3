"""A callback with a preferred time (a web request) is dialed when it is due and an agent is
free, not before; a restart keeps the time."""

from __future__ import annotations

import datetime as dt

from twisted.internet import defer
from twisted.internet.task import Clock

from acd import agent_state as st
from appliance.cli import resolved
from appliance.db.connector import DBConnector
from tests.unit.test_acd_service import FakeSwitch, seed, start


def test_a_callback_waits_for_its_time_then_for_a_free_agent(db: DBConnector) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    acd.switch = FakeSwitch()
    acd.login(ids["1003"])
    due = dt.datetime.fromtimestamp(clock.seconds() + 600, dt.UTC)
    callback_id = resolved(
        defer.ensureDeferred(acd.schedule_callback("support", "13800138000", "Li", "web", due))
    )
    assert callback_id is not None
    [row] = resolved(db.acd.open_callbacks())
    assert (row.source, row.due_at) == ("web", due)
    cb = acd.callbacks[callback_id]
    clock.advance(599)
    assert acd.switch.originated == [] and acd.position(cb) == 0  # not in line yet
    assert acd.agents[ids["1003"]].state == st.AVAILABLE

    # A restart before it is due: the time is kept.
    resolved(acd.stopService())
    acd, clock, _ = start(db, Clock())
    acd.switch = FakeSwitch()
    clock.advance(due.timestamp() - clock.seconds() - 1)
    assert acd.agents[ids["1003"]].state == st.AVAILABLE  # back as it was, yet not rung
    assert acd.switch.originated == []
    acd.pause(ids["1003"], "lunch")
    cb = acd.callbacks[callback_id]
    assert acd.position(cb) == 0
    clock.advance(1)
    assert acd.position(cb) == 1 and acd.switch.originated == []  # due; nobody free
    acd.unpause(ids["1003"])
    assert acd.switch.originated == [
        ("PJSIP/1003", "ccbox-callback", str(callback_id), ("Callback", "13800138000"))
    ]


def test_a_callback_due_already_goes_in_line_at_once(db: DBConnector) -> None:
    ids = seed(db)
    acd, clock, _ = start(db)
    acd.switch = FakeSwitch()
    past = dt.datetime.fromtimestamp(clock.seconds() - 60, dt.UTC)
    callback_id = resolved(
        defer.ensureDeferred(acd.schedule_callback("support", "13800138000", "", "web", past))
    )
    assert callback_id is not None
    assert acd.position(acd.callbacks[callback_id]) == 1
    acd.login(ids["1001"])
    assert len(acd.switch.originated) == 1
