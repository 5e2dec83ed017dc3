"""A caller waiting in a queue on the real switch (issue 21): the switch's music on hold
while ccboxd waits, and nothing else from ccboxd until something happens.

What these scenarios hold against Asterisk 22 (res_agi.c, app_dial.c, res_musiconhold.c):
- after ``SET MUSIC ON <class>`` a FastAGI session that sends nothing keeps the music
  playing (the AGI loop reads the channel, which runs the generator) and still hears the
  caller's hangup;
- ``WAIT FOR DIGIT -1`` waits for ever, hears the caller's keys over the music, and is cut
  by the next command, which Asterisk then runs at once;
- Dial's ``m(class)`` keeps the music while the agent's phone rings and stops it when the
  agent answers.
"""

from __future__ import annotations

import time

from tests.asterisk.checks import Findings
from tests.asterisk.conftest import BoxFactory
from tests.asterisk.test_inbound import check_answered_by
from tests.support.real_box import Caller, RealBox

WAIT_S = 8.0  # how long the caller holds before an agent logs in


def _queued(box: RealBox, caller: Caller) -> int:
    """The caller's calls row id once ccboxd has queued it."""
    row = box.wait_call_row(caller, ended=False)
    box.wait_rows(
        lambda: [e for e in box.call_events(row["id"]) if e["kind"] == "queued"], "queued"
    )
    return int(row["id"])


def _commands(box: RealBox, caller: Caller, since: int = 0) -> list[str]:
    return [e.get("Command", "") for e in box.events("AGIExecStart", since, Channel=caller.channel)]


def _login_and_dial(box: RealBox, caller: Caller, mark: int) -> tuple[dict[str, str], float]:
    """Agent 1001 logs in: the caller's offer's EXEC Dial (AGIExecStart), and how long
    after the login it came."""
    login_at = time.time()
    box.agents_login("1001")
    dial = box.ast.ami.wait_event(
        lambda e: (
            e.get("Event") == "AGIExecStart"
            and e.get("Channel") == caller.channel
            and e.get("Command", "").startswith("EXEC Dial")
        ),
        10,
        f"{caller.number}'s Dial",
        mark,
    )
    return dial, float(dial["_t"]) - login_at


def test_a_waiting_caller_costs_one_command_until_its_offer(make_box: BoxFactory) -> None:
    """No keys, no announcements: SET MUSIC ON and then silence on the session for the whole
    wait; no capture on the waiting caller; the login's offer rings the phone at once with
    the music kept until the agent answers."""
    with make_box(queue={"callback_key": "", "voicemail_key": ""}) as box:
        _one_command_until_the_offer(box)


def _from_the_music(commands: list[str]) -> list[str]:
    return commands[commands.index("SET MUSIC ON default") :]


def _one_command_until_the_offer(box: RealBox) -> None:
    box.phone("1001", ring=1, talk=6)
    caller = box.call(hangup_after=30)
    _queued(box, caller)
    time.sleep(WAIT_S)
    f = Findings()
    waiting = _commands(box, caller)
    f.equal(
        _from_the_music(waiting), ["SET MUSIC ON default"], "what ccboxd sent the waiting caller"
    )
    moh = box.events("MusicOnHoldStart", Channel=caller.channel)
    f.equal([e.get("Class") for e in moh], ["default"], "the caller's music class")
    f.equal(box.events("MixMonitorStart", Channel=caller.channel), [], "capture while waiting")
    f.equal(box.events("Hangup", Uniqueid=caller.uniqueid), [], "the waiting caller hung up")
    mark = box.ast.ami.mark()
    dial, waited = _login_and_dial(box, caller, mark)
    f.check(waited < 2.0, "the offer waited for something")
    f.check(dial["Command"].endswith(',tm(default)"'), f"the Dial {dial['Command']!r}")
    box.wait_gone(caller, timeout=60)
    enter = box.events("BridgeEnter", mark, Channel=caller.channel)
    stops = box.events("MusicOnHoldStop", mark, Channel=caller.channel)
    if f.check(bool(enter) and bool(stops), "no bridge, or the music never stopped"):
        f.check(float(stops[-1]["_t"]) <= float(enter[0]["_t"]), "music into the talk")
    row = box.wait_call_row(caller)
    check_answered_by(f, box, caller, row, "1001", min_talk=4)
    f.verdict()


def test_the_callers_key_is_heard_over_the_music_and_the_offer_cuts_the_wait(
    make_box: BoxFactory,
) -> None:
    """With a key to listen for, one WAIT FOR DIGIT -1: a caller's 2 reaches ccboxd (to the
    queue's voicemail), and a caller who presses nothing is rung the moment an agent logs
    in (the Dial cuts the wait; Asterisk answers the cut wait with 1)."""
    with make_box(queue={"voicemail_key": "2"}) as box:
        box.phone("1001", ring=1, talk=5)
        presser = box.call(digits="2", digits_at=5, hangup_after=20, number="13900000001")
        waiter = box.call(hangup_after=40, number="13900000002")
        _queued(box, waiter)
        f = Findings()
        row = box.wait_call_row(presser, ended=False)
        box.wait_rows(
            lambda: [e for e in box.call_events(row["id"]) if e["kind"] == "voicemail"],
            "the presser's voicemail",
            20,
        )
        f.equal(
            _from_the_music(_commands(box, presser))[:2],
            ["SET MUSIC ON default", "WAIT FOR DIGIT -1"],
            "the presser's hold",
        )
        _, waited = _login_and_dial(box, waiter, box.ast.ami.mark())
        f.check(waited < 2.0, "the offer waited for the wait to end")
        ends = box.events("AGIExecEnd", Channel=waiter.channel, Command="WAIT FOR DIGIT -1")
        f.equal([e.get("ResultCode") for e in ends][:1], ["200"], "the cut wait's reply")
        box.wait_gone(waiter, timeout=60)
        row = box.wait_call_row(waiter)
        check_answered_by(f, box, waiter, row, "1001", min_talk=3)
        f.verdict()


def test_a_caller_who_hangs_up_on_the_music_is_abandoned_at_once(box: RealBox) -> None:
    """Nothing is in progress on the session when the caller hangs up: the unsolicited
    HANGUP line alone tells ccboxd, which writes the call abandoned."""
    caller = box.call(hangup_after=6)
    _queued(box, caller)
    gone = box.wait_gone(caller, timeout=20)
    row = box.wait_call_row(caller, timeout=10)
    f = Findings()
    f.equal(row["disposition"], "abandoned", "calls.disposition")
    ended = row["ended_at"].timestamp() if row["ended_at"] is not None else 0.0
    f.check(abs(ended - float(gone["_t"])) < 1.5, f"ended {ended} vs the Hangup {gone['_t']}")
    f.verdict()
