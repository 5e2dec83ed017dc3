"""Listen, whisper and barge on the real switch: the supervisor's phone (IAX2/1006) is rung
into ChanSpy on the agent's exact channel with the mode's options; the spy ends with the
call (``E``) and leaves the call's rows alone."""

from __future__ import annotations

import time

import pytest

from tests.asterisk.checks import Findings
from tests.support.real_box import RealBox

OPTIONS = {"listen": "qEu", "whisper": "qEuw", "barge": "qEuB"}


@pytest.mark.parametrize("mode", ["listen", "whisper", "barge"])
def test_supervisor_spies_on_an_agent(box: RealBox, mode: str) -> None:
    box.phone("1001", ring=1)
    box.phone("1006", ring=1)
    box.agents_login("1001")
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=16)
    box.wait_phone_answered("1001", since=mark)
    box.wait_agent_state("1001", "on_call", timeout=10)
    agent_channel = box.events("DialBegin", since=mark, Channel=caller.channel)[-1]["DestChannel"]
    r = box.api("/api/supervisor/spy", {"agent": "1001", "mode": mode, "device": "IAX2/1006"})
    f = Findings()
    f.equal(r.status, 200, f"the spy API answered {r.body[:300]}")
    try:
        start = box.ast.ami.wait_event(
            lambda e: e.get("Event") == "ChanSpyStart", 15, "ChanSpyStart", mark
        )
    except AssertionError as exc:
        f.check(False, str(exc))
        f.verdict()
    f.equal(start.get("SpyeeChannel"), agent_channel, "ChanSpy's target (the agent's leg)")
    f.check(
        str(start.get("SpyerChannel", "")).startswith("IAX2/1006-"),
        f"the spy is not the supervisor's phone: {start.get('SpyerChannel')}",
    )
    apps = box.ast.ami.find(
        lambda e: e.get("Event") == "Newexten" and e.get("Application") == "ChanSpy", mark
    )
    f.equal(
        [e.get("AppData") for e in apps],
        [f"{agent_channel},{OPTIONS[mode]}"],
        "ChanSpy's arguments",
    )
    box.wait_gone(caller, timeout=40)
    try:
        box.ast.ami.wait_event(lambda e: e.get("Event") == "ChanSpyStop", 10, "ChanSpyStop", mark)
        spyer = str(start.get("SpyerChannel"))
        box.ast.ami.wait_event(
            lambda e: e.get("Event") == "Hangup" and e.get("Channel") == spyer,
            10,
            "the supervisor's leg hanging up with the call (E)",
            mark,
        )
    except AssertionError as exc:
        f.check(False, str(exc))
    time.sleep(0.5)
    row = box.wait_call_row(caller)
    f.equal(row["disposition"], "completed", "calls.disposition")
    f.equal(row["agent_id"], box.ids["1001"], "calls.agent_id")
    f.equal(len(box.call_rows(caller)), 1, "calls rows (the spy is no call of its own)")
    f.verdict()
