"""The queue_log of real calls on the real switch: its hold and talk times against
Asterisk's own CDRs.

ccboxd is restarted with ``[reports] queue_log`` on. Agent 1001's phone answers after 3 s
and hangs up after 6 s of talk (COMPLETEAGENT); then it answers after 2 s and the caller
hangs up (COMPLETECALLER). Each call's lines are parsed back against the format table
derived from Asterisk's source (tests/unit/test_queue_log.py), and their times held
against the phone's CDR: ``start``..``answer`` is the ring, ``answer``..``end`` the talk.
"""

from __future__ import annotations

import time
from typing import Any

from tests.asterisk.checks import Findings, phone_talk
from tests.support.real_box import RealBox
from tests.unit.test_queue_log import Line, read


def enable_queue_log(box: RealBox) -> Any:
    """ccboxd again, on the same config with ``[reports] queue_log`` set; the file's path."""
    path = box.root / "queue_log"
    text = box.config.path.read_text(encoding="utf-8")
    assert "\nqueue_log =\n" in text, "the rendered config has no empty queue_log key"
    box.config.path.write_text(text.replace("\nqueue_log =\n", f"\nqueue_log = {path}\n"))
    box.daemon.stop()
    box.start_daemon()
    return path


def lines_of(path: Any, uniqueid: str, last: str, timeout: float = 10) -> list[Line]:
    """The call's lines once one of them is ``last``'s kind (the file is written every
    second)."""
    deadline = time.monotonic() + timeout
    seen: list[Line] = []
    while time.monotonic() < deadline:
        if path.exists():
            seen = [x for x in read(path) if x.callid == uniqueid]
            if any(x.event.startswith(last) for x in seen):
                return seen
        time.sleep(0.2)
    raise AssertionError(f"no {last} line for {uniqueid} in the queue_log: {seen}")


def test_queue_log_times_match_the_real_switch(box: RealBox) -> None:
    path = enable_queue_log(box)
    f = Findings()
    box.phone("1001", ring=3, talk=6)
    box.agents_login("1001")
    first = box.call(hangup_after=40)
    box.wait_gone(first, timeout=60)
    got = lines_of(path, first.uniqueid, "COMPLETE")
    f.equal(
        [(x.event, x.queue, x.agent) for x in got],
        [
            ("ENTERQUEUE", "support", "NONE"),
            ("CONNECT", "support", "Agent/1001"),
            ("COMPLETEAGENT", "support", "Agent/1001"),
        ],
        "the first call's lines (the agent hung up first)",
    )
    phone = box.phone_cdrs("1001", since=first.originated_at)
    assert len(phone) == 1, phone
    check_times(f, got, phone[0])
    f.equal(got[0].data["callerid"], first.number, "ENTERQUEUE's caller number")

    box.wait_agent_state("1001", "available", timeout=30)
    box.phone("1001", ring=2)
    second = box.call(hangup_after=12)
    box.wait_gone(second, timeout=60)
    got = lines_of(path, second.uniqueid, "COMPLETE")
    f.equal(
        [x.event for x in got],
        ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"],
        "the second call's lines (the caller hung up first)",
    )
    phone = box.phone_cdrs("1001", since=second.originated_at)
    assert len(phone) == 1, phone
    check_times(f, got, phone[0])
    f.verdict()


def check_times(f: Findings, got: list[Line], cdr: dict[str, Any]) -> None:
    """Hold time ~ the ring of the agent's phone (the agent was free: the caller waited only
    for the ring), talk time ~ how long the phone was off the hook: within a second, the
    queue_log counting whole seconds as app_queue does."""
    if len(got) != 3:
        return
    enter, connect, complete = got
    ring = float(cdr["answer"]) - float(cdr["start"])
    talk = phone_talk(cdr)
    f.near(float(connect.data["holdtime"]), ring, 1.0, "CONNECT holdtime vs the phone's ring")
    f.near(float(connect.data["ringtime"]), ring, 1.0, "CONNECT ringtime vs the phone's ring")
    f.near(float(complete.data["calltime"]), talk, 1.0, "calltime vs the phone's CDR talk")
    f.equal(complete.data["holdtime"], connect.data["holdtime"], "COMPLETE* holdtime")
    f.equal(connect.time - enter.time, int(connect.data["holdtime"]), "CONNECT line time")
    f.equal(complete.time - connect.time, int(complete.data["calltime"]), "COMPLETE line time")
    f.check(
        connect.data["bridged_uniqueid"].count(".") == 1,
        f"CONNECT names no agent leg: {connect.data}",
    )
