"""Transfers on the real switch: blind to a queue (id 1: one digit), to an agent and to an
extension of the old PBX, and attended (AMI Atxfer, completed by the agent hanging up)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.asterisk.checks import Findings, assert_caller_left_agent_right, cdr_of, states
from tests.support.real_box import Caller, RealBox


def _answered_call(box: RealBox) -> tuple[Caller, str]:
    """Agent 1001 answers a caller (who hangs up 30 s after the IVR answered); returns the
    caller and the phone end's channel of 1001."""
    box.phone("1001", ring=1)
    box.agents_login("1001")
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=30)
    phone_end = box.wait_phone_answered("1001", since=mark)
    box.wait_agent_state("1001", "on_call", timeout=10)
    time.sleep(3)
    return caller, phone_end


def _transfer(box: RealBox, kind: str, target: str, attended: bool = False) -> dict[str, Any]:
    payload = {"kind": kind, "target": target, "agent": "1001", "attended": attended}
    try:
        r = box.api("/api/acd/transfer", payload)
    except TimeoutError:
        return {"status": None, "body": "no answer from /api/acd/transfer within 10 s"}
    return {"status": r.status, "body": r.body[:400]}


def _reached(box: RealBox, caller: Caller, device: str) -> list[dict[str, Any]]:
    """The caller's CDRs that show it answered by ``device`` (e.g. IAX2/1002)."""
    return [
        c
        for c in cdr_of(box.cdrs_for(caller), dstchannel=f"{device}-*")
        if c["disposition"] == "ANSWERED"
    ]


@pytest.mark.parametrize(
    ("kind", "target", "device"),
    [
        ("queue", "1", "IAX2/1002"),
        ("agent", "1002", "IAX2/1002"),
        ("extension", "1005", "IAX2/1005"),
    ],
)
def test_blind_transfer(box: RealBox, kind: str, target: str, device: str) -> None:
    """Agent 1001 transfers the caller blind to queue 1 (where only 1002 is free), to agent
    1002 or to extension 1005 (a phone of the old PBX); the caller talks there until it
    hangs up, agent 1001 is free, one recording covers the call."""
    box.phone("1002", ring=1)
    box.phone("1005", ring=1)
    caller, _ = _answered_call(box)
    if kind != "extension":
        box.agents_login("1002")
    said = _transfer(box, kind, target)
    f = Findings()
    f.equal(said["status"], 200, f"the transfer API answered {said['body']}")
    f.check("transferred" in said["body"], f"the transfer API said {said['body']}")
    box.wait_gone(caller, timeout=50)
    row = box.wait_call_row(caller)
    f.check(
        bool(_reached(box, caller, device)),
        f"the caller never talked to {device}: {box.cdrs_for(caller)}",
    )
    f.equal(len(box.call_rows(caller)), 1, "calls rows of the transferred call")
    f.equal(row["hangup_cause"], 16, "calls.hangup_cause (the caller hung up: 16)")
    f.check(row["disposition"] in ("transferred", "completed"), f"disposition {row}")
    history = states(box.agent_events("1001"))
    f.check("on_call" in history, f"agent 1001 history {history}")
    state = box.agent_state("1001")
    f.check(state in ("wrap_up", "available"), f"agent 1001 is {state} after the transfer")
    if kind != "extension":
        f.check("on_call" in states(box.agent_events("1002")), "agent 1002 never took the call")
    recs = box.recordings(row["id"])
    f.equal(len(recs), 1, "recordings of the transferred call (one across the transfer)")
    if recs:
        try:
            assert_caller_left_agent_right(box.config.recording_dir / recs[0]["path"])
        except AssertionError as exc:
            f.check(False, f"recording: {exc}")
    f.verdict()


def test_attended_transfer_to_an_agent(box: RealBox) -> None:
    """Agent 1001 consults agent 1002 (AMI Atxfer: 1002's phone rings and answers), then
    hangs up to complete: the caller ends up talking to 1002; AttendedTransfer says so."""
    box.phone("1002", ring=1)
    caller, phone_end = _answered_call(box)
    box.agents_login("1002")
    mark = box.ast.ami.mark()
    said = _transfer(box, "agent", "1002", attended=True)
    f = Findings()
    f.equal(said["status"], 200, f"the transfer API answered {said['body']}")
    try:
        box.wait_phone_answered("1002", since=mark, timeout=20)
    except AssertionError as exc:
        dtmf = box.events("DTMFEnd", since=mark)
        f.check(False, f"the consult call never reached 1002 ({exc}); DTMF seen: {dtmf}")
        f.verdict()
    time.sleep(2)
    box.hang_up_channel(phone_end)  # agent 1001 puts the phone down: the transfer completes
    xfer = box.ast.ami.wait_event(
        lambda e: e.get("Event") == "AttendedTransfer", 10, "AttendedTransfer", mark
    )
    f.equal(xfer.get("Result"), "Success", "AttendedTransfer Result")
    box.wait_gone(caller, timeout=50)
    row = box.wait_call_row(caller)
    bridged_with_1002 = box.ast.ami.find(
        lambda e: (
            e.get("Event") == "BridgeEnter" and str(e.get("Channel", "")).startswith("IAX2/1002-")
        ),
        mark,
    )
    f.check(bool(bridged_with_1002), "IAX2/1002 never joined a bridge")
    f.equal(row["hangup_cause"], 16, "calls.hangup_cause (the caller hung up: 16)")
    state = box.agent_state("1001")
    f.check(state in ("wrap_up", "available"), f"agent 1001 is {state} after the transfer")
    f.check(
        "on_call" in states(box.agent_events("1002")),
        f"ccbox never saw agent 1002 on the call: {states(box.agent_events('1002'))}",
    )
    f.verdict()
