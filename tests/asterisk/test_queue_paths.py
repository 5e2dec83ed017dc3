"""The queue's other paths on the real switch: agents who do not answer or are busy, and a
caller who gives up while hearing the announcements."""

from __future__ import annotations

import time

from tests.asterisk.checks import Findings, cdr_of, seconds, states
from tests.asterisk.conftest import BoxFactory
from tests.asterisk.test_inbound import MISSING_SOUND, check_answered_by
from tests.support.real_box import RealBox


def test_no_answer_then_busy_then_the_next_agent(box: RealBox) -> None:
    """Agent 1002's phone never answers, 1003's is busy, 1001 answers: the caller rings
    them in that order (idle longest first) and talks to 1001; the two others are free
    again, never on the call."""
    box.phone("1002", "noanswer")
    box.phone("1003", "busy")
    box.phone("1001", ring=1)
    for agent in ("1002", "1003", "1001"):
        box.agents_login(agent)
        time.sleep(0.3)
    caller = box.call(hangup_after=30)
    box.wait_gone(caller, timeout=60)
    row = box.wait_call_row(caller)
    f = Findings()
    cdrs = box.cdrs_for(caller)
    tried = sorted(
        (c for c in cdr_of(cdrs, uniqueid=caller.uniqueid) if c.get("dstchannel")),
        key=lambda c: float(c["start"]),
    )
    seen = [(str(c["dstchannel"]).split("-")[0], c["disposition"]) for c in tried]
    f.check(("IAX2/1002", "NO ANSWER") in seen, f"no unanswered ring of 1002 in the CDRs: {seen}")
    f.check(("IAX2/1003", "BUSY") in seen, f"no busy ring of 1003 in the CDRs: {seen}")
    f.equal(seen[-1:], [("IAX2/1001", "ANSWERED")], "the last ring in the CDRs")
    f.equal(
        [agent for agent, _ in seen[:3]],
        ["IAX2/1002", "IAX2/1003", "IAX2/1001"],
        "the order the agents were rung in (CDRs)",
    )
    check_answered_by(f, box, caller, row, "1001", min_talk=5)
    for agent in ("1002", "1003"):
        history = states(box.agent_events(agent))
        f.check("on_call" not in history, f"agent {agent} was on the call: {history}")
        f.check("ringing" in history, f"agent {agent} never rang: {history}")
        state = box.agent_state(agent)
        f.check(state != "ringing", f"agent {agent} is still ringing after the call")
    f.verdict()


def test_abandon_while_holding_with_announcements(make_box: BoxFactory) -> None:
    """Nobody is logged in; the queue announces position and wait every 4 s; the caller
    hangs up after 14 s. ccbox must play the announcements, never hang up the caller
    itself, and write the call as abandoned when the caller left."""
    with make_box(queue={"announce_every_s": 4, "announce_position": True}) as box:
        mark = box.ast.ami.mark()
        caller = box.call(hangup_after=14)
        gone = box.wait_gone(caller, timeout=40)
        row = box.wait_call_row(caller)
        f = Findings()
        # the caller left on its own: the harness's hang-up came first
        left = box.events("UserEvent", since=mark, UserEvent="HarnessCallerHangsUp")
        f.check(
            bool(left) and float(left[0]["_t"]) <= float(gone["_t"]),
            f"ccbox hung up the waiting caller (Hangup {gone.get('Cause')}) before it left",
        )
        commands = [
            e.get("Command", "")
            for e in box.events("AGIExecStart", since=mark, Uniqueid=caller.uniqueid)
        ]
        heard = " | ".join(commands)
        f.check("ccbox-queue-position" in heard, f"no position announcement: {heard[-600:]}")
        f.check("ccbox-queue-wait" in heard, f"no expected-wait announcement: {heard[-600:]}")
        f.check(
            any(c.upper().startswith("SAY NUMBER") for c in commands), f"no SAY NUMBER: {heard}"
        )
        f.equal(row["disposition"], "abandoned", "calls.disposition")
        f.equal(row["agent_id"], None, "calls.agent_id")
        f.equal(row["hangup_cause"], 16, "calls.hangup_cause (the caller hung up: 16)")
        f.check(row["ended_at"] is not None, "calls.ended_at is empty")
        if row["ended_at"] is not None:
            ended = row["ended_at"].timestamp()
            f.near(ended, float(gone["_t"]), 1.5, "calls.ended_at vs the caller's Hangup")
            f.near(
                seconds(row["started_at"], row["ended_at"]),
                float(gone["_t"]) - caller.originated_at,
                1.5,
                "the call's length, ccbox vs Asterisk",
            )
        kinds = [e["kind"] for e in box.call_events(row["id"])]
        f.check("queued" in kinds and "abandoned" in kinds, f"call events {kinds}")
        mine = cdr_of(box.cdrs_for(caller), uniqueid=caller.uniqueid)
        f.check(bool(mine), "no CDR of the caller")
        f.check(all(not c.get("dstchannel") for c in mine), f"the caller rang someone: {mine}")
        f.equal(box.recordings(row["id"]), [], "recordings of a call nobody answered")
        missing = [line for line in box.daemon_log().splitlines() if MISSING_SOUND in line]
        f.equal(missing, [], "sounds ccboxd found missing though they were installed")
        f.verdict()


def test_agent_hangs_up_first(box: RealBox) -> None:
    """Agent 1001 talks 5 s and hangs up first (Dial answers -1 without g, DIALSTATUS
    ANSWER, the caller still there): the call is over for ccbox, completed by 1001; the
    caller is not offered to another agent."""
    box.phone("1001", ring=1, talk=5)
    box.phone("1002", ring=1)
    box.agents_login("1001")
    time.sleep(0.3)
    box.agents_login("1002")
    caller = box.call(hangup_after=25)
    box.wait_gone(caller, timeout=40)
    row = box.wait_call_row(caller)
    f = Findings()
    answered = [
        (str(c["dstchannel"]).split("-")[0], c["disposition"])
        for c in cdr_of(box.cdrs_for(caller), uniqueid=caller.uniqueid)
        if c.get("dstchannel")
    ]
    f.equal(answered, [("IAX2/1001", "ANSWERED")], "the phones the caller rang (CDRs)")
    f.equal(row["disposition"], "completed", "calls.disposition")
    f.equal(row["agent_id"], box.ids["1001"], "calls.agent_id")
    f.check("on_call" not in states(box.agent_events("1002")), "1002 got the caller too")
    phone = box.phone_cdrs("1001", since=caller.originated_at)
    if f.equal(len(phone), 1, "answered calls on 1001's phone") and row.get("talk_ms"):
        talk = float(phone[0]["end"]) - float(phone[0]["answer"])
        f.near(row["talk_ms"] / 1000, talk, 0.5, "calls.talk_ms vs the phone's CDR")
    f.verdict()
