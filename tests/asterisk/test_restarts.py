"""Restarts mid-call on the real switch: Asterisk's ``core restart now`` (every call is cut)
and ccboxd killed with SIGKILL then started again (the call goes on without it)."""

from __future__ import annotations

import signal
import time

from tests.asterisk.checks import Findings, seconds, states
from tests.asterisk.test_inbound import check_answered_by
from tests.support.real_box import Caller, RealBox


def _ccbox_on_ami(box: RealBox, timeout: float = 40) -> bool:
    """ccboxd's AMI user is connected again (``manager show connected``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ccbox" in box.ast.cli("manager show connected").split():
            return True
        time.sleep(0.5)
    return False


def test_asterisk_restart_mid_call(box: RealBox) -> None:
    """A caller talks to agent 1001 when Asterisk restarts: the call is gone, so ccbox ends
    its row and frees the agent, reconnects to the new Asterisk and takes the next call."""
    caller = _talking_to_1001(box, hangup_after=60)
    time.sleep(3)
    restarted_at = time.time()
    box.ast.restart_now()
    f = Findings()
    f.check(_ccbox_on_ami(box), "ccboxd did not log in to the restarted Asterisk")
    try:
        row = box.wait_call_row(caller, timeout=30)
    except AssertionError as exc:
        f.check(False, f"the cut call's row never ended: {exc}")
    else:
        f.near(row["ended_at"].timestamp(), restarted_at, 3.0, "calls.ended_at vs the restart")
        f.equal(row["agent_id"], box.ids["1001"], "calls.agent_id of the cut call")
        f.check(row["answered_at"] is not None, "the cut call lost its answer time")
    try:
        box.wait_agent_state("1001", "available", timeout=20)
    except AssertionError as exc:
        f.check(False, f"agent 1001 after the restart: {exc}")
    f.verdict()

    _next_caller_reaches_1001(box, f)  # the box works on, through the restarted switch


def test_ccboxd_killed_mid_call_and_started_again(box: RealBox) -> None:
    """ccboxd is SIGKILLed while a caller talks to agent 1001: Asterisk keeps the call up;
    a new ccboxd adopts the open row and finishes it when the caller hangs up, with the
    agent freed, and then takes the next call."""
    mark = box.ast.ami.mark()
    caller = _talking_to_1001(box, hangup_after=30)
    time.sleep(2)
    box.kill_daemon()
    time.sleep(1)
    f = Findings()
    f.equal(
        box.events("Hangup", since=mark, Uniqueid=caller.uniqueid),
        [],
        "the caller's channel hung up when ccboxd died",
    )
    box.start_daemon()
    gone = box.wait_gone(caller, timeout=60)
    rows = box.call_rows(caller)
    f.equal(len([r for r in rows if r["uniqueid"] == caller.uniqueid]), 1, "calls rows")
    try:
        row = box.wait_call_row(caller, timeout=20)
    except AssertionError as exc:
        f.check(False, f"the call's row was never finished: {exc}")
    else:
        f.near(row["ended_at"].timestamp(), float(gone["_t"]), 1.5, "calls.ended_at vs Hangup")
        f.equal(row["disposition"], "completed", "calls.disposition of the adopted call")
        f.equal(row["agent_id"], box.ids["1001"], "calls.agent_id")
        f.equal(row["hangup_cause"], 16, "calls.hangup_cause")
        if row.get("talk_ms") is not None:
            phone = box.phone_cdrs("1001", since=caller.originated_at)
            if phone:
                talk = float(phone[0]["end"]) - float(phone[0]["answer"])
                f.near(row["talk_ms"] / 1000, talk, 0.5, "calls.talk_ms vs the phone's CDR")
        else:
            f.check(False, "calls.talk_ms is empty after the adoption")
        f.check(seconds(row["started_at"], row["ended_at"]) > 20, "the row's span is too short")
    try:
        box.wait_agent_state("1001", "available", timeout=20)
    except AssertionError as exc:
        f.check(False, f"agent 1001 after the restart: {exc} ({states(box.agent_events('1001'))})")
    f.verdict()

    _next_caller_reaches_1001(box, f)


def _talking_to_1001(box: RealBox, hangup_after: float) -> Caller:
    """Agent 1001 logged in and talking to a caller who hangs up after ``hangup_after`` s."""
    box.phone("1001", ring=1)
    box.agents_login("1001")
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=hangup_after)
    box.wait_phone_answered("1001", since=mark)
    box.wait_agent_state("1001", "on_call", timeout=10)
    return caller


def _next_caller_reaches_1001(box: RealBox, f: Findings) -> None:
    nxt = box.call(hangup_after=12)
    box.wait_gone(nxt, timeout=40)
    row = box.wait_call_row(nxt)
    check_answered_by(f, box, nxt, row, "1001", min_talk=5)
    f.verdict()


def test_sigterm_hands_waiting_callers_off_and_leaves_the_talk_running(box: RealBox) -> None:
    """ccboxd gets SIGTERM (an upgrade) while a caller talks to agent 1001 and four wait in
    the queue: a caller arriving during the stop hears the dialplan's "no service"; after
    the grace the four are handed back to the dialplan, which plays them the hand-off
    message ([ccbox-handoff]) with rows ``handed_off``; the talk goes on with its row open,
    and the next ccboxd adopts it and closes it when the caller hangs up."""
    talking = _talking_to_1001(box, hangup_after=45)
    waiting = [box.call(hangup_after=90) for _ in range(4)]
    f = Findings()
    for caller in waiting:
        box.ast.ami.wait_event(
            lambda e, u=caller.uniqueid: (
                e.get("Event") == "AGIExecStart"
                and e.get("Uniqueid") == u
                and e.get("Command", "").startswith("SET MUSIC ON")
            ),
            20,
            f"{caller.number} holding in the queue",
        )
    mark = box.ast.ami.mark()
    sigterm_at = time.time()
    box.daemon.proc.send_signal(signal.SIGTERM)
    time.sleep(1)
    late = box.call(hangup_after=30)
    f.check(
        _ran(box, late, "Playback", "ss-noservice", mark, 10),
        "a caller arriving during the stop did not hear the fallback",
    )
    f.equal(box.daemon.proc.wait(timeout=40), 0, "ccboxd's exit status")
    stopped = time.time() - sigterm_at
    f.check(
        stopped < box.config.shutdown.grace_s + 6,
        f"the stop took {stopped:.1f} s (grace {box.config.shutdown.grace_s} s)",
    )
    for caller in waiting:
        f.check(
            _ran(box, caller, "Playback", "ccbox-handoff", mark, 10),
            f"{caller.number} did not reach the hand-off",
        )
        try:
            row = box.wait_call_row(caller, timeout=5)
        except AssertionError as exc:
            f.check(False, f"{caller.number}: {exc}")
        else:
            f.equal(row["disposition"], "handed_off", f"{caller.number}'s disposition")
    f.equal(
        box.events("Hangup", since=mark, Uniqueid=talking.uniqueid),
        [],
        "the talking caller's channel hung up at the stop",
    )
    open_row = box.wait_call_row(talking, ended=False)
    f.check(open_row["ended_at"] is None, "the talking caller's row was closed at the stop")
    kinds = [e["kind"] for e in box.call_events(open_row["id"])]
    f.equal(kinds[-1:], ["left_running"], "the talking caller's last event")

    box.start_daemon()
    gone = box.wait_gone(talking, timeout=60)
    try:
        row = box.wait_call_row(talking, timeout=20)
    except AssertionError as exc:
        f.check(False, f"the adopted call's row was never finished: {exc}")
    else:
        f.near(row["ended_at"].timestamp(), float(gone["_t"]), 1.5, "calls.ended_at vs Hangup")
        f.equal(row["disposition"], "completed", "calls.disposition of the adopted call")
        f.equal(row["agent_id"], box.ids["1001"], "calls.agent_id")
    f.verdict()


def _ran(box: RealBox, caller: Caller, app: str, data: str, since: int, timeout: float) -> bool:
    """The caller's channel ran ``app(data)`` in the dialplan (its Newexten)."""
    try:
        box.ast.ami.wait_event(
            lambda e: (
                e.get("Event") == "Newexten"
                and e.get("Uniqueid") == caller.uniqueid
                and e.get("Application") == app
                and e.get("AppData") == data
            ),
            timeout,
            f"{caller.channel} running {app}({data})",
            since,
        )
    except AssertionError:
        return False
    return True
