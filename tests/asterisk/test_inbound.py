"""Inbound calls on the real switch: through the IVR to an agent, and a caller who has to
wait in the queue first."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.asterisk.checks import (
    Findings,
    assert_caller_left_agent_right,
    cdr_of,
    phone_talk,
    states,
    talk_from_history,
)
from tests.asterisk.conftest import BoxFactory
from tests.support.real_box import Caller, RealBox


def check_answered_by(
    f: Findings, box: RealBox, caller: Caller, row: dict[str, Any], agent: str, min_talk: float
) -> None:
    """The rows of a call agent ``agent`` answered, held against Asterisk's CDRs: the talk
    time in the agent's history and on the calls row matches how long the phone was off
    the hook (its CDR) and the caller's bridge time, within 0.5 s; the recording is stereo
    with the caller on the left and as long as the talk."""
    f.equal(row["direction"], "inbound", "calls.direction")
    f.equal(row["caller_number"], caller.number, "calls.caller_number")
    f.equal(row["channel"], caller.channel, "calls.channel")
    f.equal(row["disposition"], "completed", "calls.disposition")
    f.equal(row["agent_id"], box.ids[agent], f"calls.agent_id (agent {agent})")
    f.equal(row["queue_id"], box.ids["support"], "calls.queue_id")
    f.equal(row["hangup_cause"], 16, "calls.hangup_cause (the caller hung up: 16)")
    f.check(row["answered_at"] is not None, "calls.answered_at is empty")

    # Asterisk's side: the caller's CDR says it reached the agent's phone
    cdrs = box.cdrs_for(caller)
    mine = cdr_of(cdrs, uniqueid=caller.uniqueid, dstchannel=f"IAX2/{agent}-*")
    assert mine, f"no CDR of {caller.channel} to IAX2/{agent}: {cdrs}"
    f.equal(mine[-1]["disposition"], "ANSWERED", "the caller's CDR disposition")
    phone = box.phone_cdrs(agent, since=caller.originated_at)
    assert len(phone) == 1, phone
    ast_talk = phone_talk(phone[0])
    f.near(box.bridge_time(caller.channel), ast_talk, 0.5, "AMI bridge time vs the phone's CDR")
    assert ast_talk > min_talk, f"the agent's phone talked only {ast_talk:.2f}s"

    # ccbox's side: the agent's history and the calls row
    spells = talk_from_history(box.agent_events(agent), since=caller.originated_at)
    if f.equal(len(spells), 1, f"on_call spells in agent {agent}'s history for this call"):
        f.near(spells[0], ast_talk, 0.5, "talk time in the agent history vs Asterisk's CDR")
    if f.check("talk_ms" in row, "calls has no talk_ms column (issue 13: talk time on the row)"):
        if f.check(row["talk_ms"] is not None, "calls.talk_ms is empty"):
            f.near(row["talk_ms"] / 1000, ast_talk, 0.5, "calls.talk_ms vs Asterisk's CDR")
        f.check(row.get("agent_answered_at") is not None, "calls.agent_answered_at is empty")
    kinds = [e["kind"] for e in box.call_events(row["id"])]
    f.check("queued" in kinds and "answered" in kinds, f"call events {kinds}")
    fallback = box.events("Newexten", Channel=caller.channel, Application="Playback")
    f.equal(
        [e.get("AppData") for e in fallback],
        [],
        "the dialplan's fallback played to a served caller",
    )

    # the recording: one stereo file, caller left, agent right, as long as the talk
    try:
        recs = box.wait_rows(lambda: box.recordings(row["id"]), "the call's recording", 30)
    except AssertionError as exc:
        f.check(False, str(exc))
        return
    f.equal(len(recs), 1, "recordings of the call")
    rec = recs[0]
    f.equal(rec["agent_id"], box.ids[agent], "recordings.agent_id")
    try:
        audio_s = assert_caller_left_agent_right(box.config.recording_dir / rec["path"])
    except AssertionError as exc:
        f.check(False, f"recording {rec['path']}: {exc}")
        return
    f.near(audio_s, ast_talk, 1.0, "recording length vs the talk")
    f.near(rec["duration_ms"] / 1000, ast_talk, 1.0, "recordings.duration_ms vs the talk")


def test_ivr_to_an_agent(box: RealBox) -> None:
    """A caller presses 1 in the welcome menu, reaches agent 1001 (answers after 1 s) and
    hangs up 13.5 s after the IVR answered."""
    box.agents_login("1001")
    box.phone("1001", ring=1)
    caller = box.call(digits="1", digits_at=1.5, hangup_after=12)
    box.wait_gone(caller, timeout=40)
    row = box.wait_call_row(caller)
    f = Findings()
    menu = [
        json.loads(e["data"])
        for e in box.call_events(row["id"])
        if e["kind"] == "ivr_step" and json.loads(e["data"]).get("node") == "welcome"
    ]
    f.equal([m.get("input") for m in menu], ["1"], "the welcome menu's input (the caller's 1)")
    check_answered_by(f, box, caller, row, "1001", min_talk=6)
    box.wait_agent_state("1001", "available", timeout=10)
    f.equal(states(box.agent_events("1001"))[-3:], ["on_call", "wrap_up", "available"], "states")
    f.verdict()


MISSING_SOUND = "is not installed in Asterisk"


@pytest.mark.parametrize("sounds", ["installed", "missing"])
def test_caller_waits_in_the_queue_then_reaches_an_agent(
    make_box: BoxFactory, tmp_path: Path, sounds: str
) -> None:
    """The only agent is logged in only after the caller has waited 8 s (hold music and
    announcements every 4 s meanwhile): the caller must stay, reach the agent and talk.
    With ccbox's system sounds missing (an installation fault) the caller must stay all
    the same: a missing sound is no hangup."""
    kwargs: dict[str, Any] = {"queue": {"announce_every_s": 4}}
    if sounds == "missing":
        kwargs["sounds"] = tmp_path  # nothing in it
    with make_box(**kwargs) as box:
        caller = box.call(hangup_after=24)
        box.phone("1001", ring=1)
        row = box.wait_call_row(caller, ended=False)
        box.wait_rows(
            lambda: [e for e in box.call_events(row["id"]) if e["kind"] == "queued"], "queued"
        )
        time.sleep(8)
        hangups = box.events("Hangup", Uniqueid=caller.uniqueid)
        assert not hangups, f"the waiting caller was hung up: {hangups}"
        box.agents_login("1001")
        box.wait_gone(caller, timeout=45)
        row = box.wait_call_row(caller)
        f = Findings()
        check_answered_by(f, box, caller, row, "1001", min_talk=6)
        missing = [line for line in box.daemon_log().splitlines() if MISSING_SOUND in line]
        if sounds == "installed":
            f.equal(missing, [], "sounds ccboxd found missing though they were installed")
        else:
            f.check(bool(missing), "ccboxd did not report the missing sounds")
        f.verdict()


def test_no_service_prompt_only_when_ccboxd_is_down(box: RealBox) -> None:
    """With ccboxd stopped, AGI cannot connect and the generated dialplan plays
    ss-noservice to the caller; the fallback never plays to a caller ccboxd served (the
    other scenarios check that)."""
    box.kill_daemon()
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=30)
    box.wait_gone(caller, timeout=30)
    played = box.events("Newexten", since=mark, Channel=caller.channel, Application="Playback")
    f = Findings()
    f.equal([e.get("AppData") for e in played], ["ss-noservice"], "what the caller heard")
    f.check(
        not box.events("UserEvent", since=mark, UserEvent="HarnessCallerHangsUp"),
        "the caller had to hang up: the fallback did not end the call",
    )
    f.verdict()
