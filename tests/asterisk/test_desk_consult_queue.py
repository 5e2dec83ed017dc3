"""A consultation with a queue from the desk on the real switch (acd/desk_control.py),
driven through the supervisor's ``/api/supervisor/control``: agent 1001, on a call of queue
"support", consults the queue; its routing picks the free agent 1002, whose phone is rung
by an attended transfer (Atxfer to ``1002@ccbox-agents``) and answers; the consultation
turns into a three-way call (``*3``: ``AttendedTransfer`` ``DestType: Threeway``) and 1001
leaves it: the caller and 1002 talk on. The consult is no customer call: one calls row."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from appliance.db import model
from tests.asterisk.checks import Findings
from tests.asterisk.test_desk_control import (
    agent_1001_on_a_call,
    control,
    event,
    three_way_then_1001_leaves,
)


def test_consult_a_queue_then_a_three_way_call(box: Any) -> None:
    caller, _ = agent_1001_on_a_call(box, "1002")
    box.agents_login("1002")
    time.sleep(1)
    f = Findings()

    status, said = control(box, "consult", kind="queue", target="nope")
    f.equal((status, said.get("error")), (400, "no queue nope"), f"unknown queue: {said}")
    consult_at = box.ast.ami.mark()
    status, said = control(box, "consult", kind="queue", target="support")
    f.equal(
        (status, said.get("message")),
        (200, "calling agent 1002 of queue Support: transfer, conference or cancel"),
        f"consult: {said}",
    )
    event(box, "Newchannel", consult_at, Channel="Local/1002@ccbox-agents-")
    box.wait_phone_answered("1002", since=consult_at, timeout=20)
    f.equal(box.agent_state("1002"), "on_call", "agent 1002 while consulted")
    time.sleep(1)
    gone = three_way_then_1001_leaves(box, f, consult_at)
    f.check(
        caller.channel not in gone and not any(c.startswith("IAX2/1002-") for c in gone),
        f"the caller and 1002 talk on after 1001 left (hung up: {gone})",
    )
    f.check(box.agent_state("1001") != "on_call", "agent 1001 is off the call")
    rows = box.rows(sa.select(model.calls.c.uniqueid))
    f.equal(len(rows), 1, f"one calls row, the caller's (the consult is none): {rows}")
    f.verdict()
