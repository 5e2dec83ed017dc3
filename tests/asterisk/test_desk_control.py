"""Call control from the desk on the real switch (acd/desk_control.py), driven through the
supervisor's ``/api/supervisor/control`` (the same engine as the agent's ``/api/desk/...``):

- an inbound call answered by agent 1001: hold (Asterisk's attended transfer to
  ``0@ccbox-desk-hold``: the caller hears hold music, its FastAGI Dial stays up), mute
  (``MUTEAUDIO`` by Setvar, within the AMI user's rights), resume (the hold leg hung up: the
  two are bridged again), then a consultation with agent 1002 and the transfer: the caller
  ends talking to 1002;
- click-to-dial: agent 1001's phone rings first, then the outside number with the center's
  caller ID; a consultation with a second outside number turned into a three-way call
  (``*3``), which goes on between the two outside parties when 1001 leaves;
- the auto-answer headers for a PJSIP phone, as Originate's Variable headers: Asterisk
  keeps ``PJSIP_HEADER(add,Call-Info)=...`` whole and writes it as a function.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from appliance.cli import resolved
from appliance.db import model
from appliance.db.admin_store import AdminStore
from drivers.asterisk.ami import actions
from tests.asterisk.checks import Findings
from tests.support.real_box import RealBox

MAIN_LINE = "4008009999"


def control(box: RealBox, action: str, **fields: Any) -> tuple[int | None, dict[str, Any]]:
    try:
        r = box.api("/api/supervisor/control", {"agent": "1001", "action": action, **fields})
    except TimeoutError:
        return None, {"error": f"no answer to {action} within 10 s"}
    return r.status, r.json()


def event(box: RealBox, name: str, since: int, timeout: float = 10, **match: str) -> Any:
    return box.ast.ami.wait_event(
        lambda e: (
            e.get("Event") == name and all(e.get(k, "").startswith(v) for k, v in match.items())
        ),
        timeout,
        f"{name} {match}",
        since,
    )


def agent_1001_on_a_call(box: RealBox, *others: str) -> tuple[Any, int]:
    """Phone 1001 (and the ``others``) answering after a ring, agent 1001 logged in and on
    a queue call: (the caller, the AMI mark before the call)."""
    for number in ("1001", *others):
        box.phone(number, ring=1)
    box.agents_login("1001")
    mark = box.ast.ami.mark()
    caller = box.call(hangup_after=60)
    box.wait_phone_answered("1001", since=mark)
    box.wait_agent_state("1001", "on_call", timeout=10)
    return caller, mark


def three_way_then_1001_leaves(box: RealBox, f: Findings, consult_at: int) -> list[str]:
    """The consultation turned into a three-way call (``*3``), then agent 1001 leaves it:
    the channels hung up in the 3 s after."""
    status, said = control(box, "conference")
    f.equal((status, said.get("message")), (200, "three-way call"), f"conference: {said}")
    xfer = event(box, "AttendedTransfer", consult_at, 10)
    f.equal((xfer.get("Result"), xfer.get("DestType")), ("Success", "Threeway"), "three-way")
    time.sleep(1)
    left_at = box.ast.ami.mark()
    status, said = control(box, "transfer")  # 1001 leaves the three-way call
    f.equal((status, said.get("message")), (200, "transferred"), f"leave: {said}")
    event(box, "Hangup", left_at, Channel="IAX2/1001-")
    time.sleep(3)
    return [e.get("Channel", "") for e in box.events("Hangup", since=left_at)]


def test_hold_mute_resume_then_a_consultation_transfer(make_box: Any) -> None:
    with make_box(queue={"moh_class": "jazz"}) as box:  # the queue's class on hold too
        _hold_then_transfer(box)


def _hold_then_transfer(box: RealBox) -> None:
    caller, mark = agent_1001_on_a_call(box, "1002")
    time.sleep(1)
    f = Findings()

    held_at = box.ast.ami.mark()
    status, said = control(box, "hold")
    f.equal((status, said.get("message")), (200, "the caller is on hold"), f"hold: {said}")
    moh = event(box, "MusicOnHoldStart", held_at, Channel=caller.channel)
    f.equal(moh.get("Class"), "jazz", "the caller's hold music class (its queue's)")
    hold_leg = event(box, "Newchannel", held_at, Channel="Local/0@ccbox-desk-hold-")

    status, said = control(box, "mute", muted=True)
    f.equal((status, said.get("message")), (200, "muted: the caller does not hear you"), str(said))

    resumed_at = box.ast.ami.mark()
    status, said = control(box, "resume")
    f.equal((status, said.get("message")), (200, "back with the caller"), f"resume: {said}")
    event(box, "Hangup", resumed_at, Channel=hold_leg["Channel"])
    event(box, "MusicOnHoldStop", resumed_at, Channel=caller.channel)
    back = event(box, "BridgeEnter", resumed_at, Channel="IAX2/1001-")
    caller_bridge = [
        e for e in box.events("BridgeEnter", since=mark) if e.get("Channel") == caller.channel
    ]
    f.check(
        bool(caller_bridge) and back.get("BridgeUniqueid") == caller_bridge[-1]["BridgeUniqueid"],
        "agent 1001 is back in the caller's bridge",
    )
    f.check(
        not box.events("Hangup", since=mark, Uniqueid=caller.uniqueid),
        "the caller is still on the line (its FastAGI Dial survived the hold)",
    )
    f.equal(box.agent_state("1001"), "on_call", "agent 1001 after the hold")

    box.agents_login("1002")
    consult_at = box.ast.ami.mark()
    status, said = control(box, "consult", kind="agent", target="1002")
    f.equal(status, 200, f"consult: {said}")
    box.wait_phone_answered("1002", since=consult_at, timeout=20)
    time.sleep(1)
    status, said = control(box, "transfer")
    f.equal((status, said.get("message")), (200, "transferred"), f"transfer: {said}")
    xfer = event(box, "AttendedTransfer", consult_at, 15)
    f.equal((xfer.get("Result"), xfer.get("DestType")), ("Success", "Bridge"), "AttendedTransfer")
    event(box, "Hangup", consult_at, Channel="IAX2/1001-")
    time.sleep(2)
    f.equal(xfer.get("TransfereeChannel"), caller.channel, "the party transferred")
    # (its TransferTarget* headers were there in one run and missing in another: the
    # consult's Local pair had already swapped itself out; the bridges tell)
    gone = [e.get("Channel", "") for e in box.events("Hangup", since=consult_at)]
    f.check(
        caller.channel not in gone and not any(c.startswith("IAX2/1002-") for c in gone),
        f"the caller talks to 1002 (hung up since the consult: {gone})",
    )
    f.check(box.agent_state("1001") != "on_call", "agent 1001 is off the call")
    c = model.audit_log.c
    done = [r["action"] for r in box.rows(sa.select(c.action).order_by(c.id))]
    for action in ("hold", "mute", "resume", "consult", "transfer"):
        f.check(f"supervisor.{action}" in done, f"supervisor.{action} not audited: {done}")
    f.verdict()


def _main_line(db: Any, ids: dict[str, int]) -> None:
    resolved(AdminStore(db).add_did(MAIN_LINE, None, "main line", True))


def test_click_to_dial_then_a_three_way_call(make_box: Any) -> None:
    with make_box(seed=_main_line) as box:
        box.phone("1001", ring=1)
        box.outside("5551234")
        box.outside("5559876")
        box.agents_login("1001")
        mark = box.ast.ami.mark()
        f = Findings()
        status, said = control(box, "dial", number="555-1234", auto_answer=True)  # IAX2: none
        f.equal(
            (status, said.get("message")),
            (200, "your phone rings: answer it to call 5551234"),
            f"dial: {said}",
        )
        box.wait_phone_answered("1001", since=mark)
        outside = box.ast.ami.wait_event(
            lambda e: (
                e.get("UserEvent") == "HarnessOutsideAnswered" and e.get("Number") == "5551234"
            ),
            15,
            "5551234 answering",
            mark,
        )
        rang = [
            e for e in box.events("Newchannel", since=mark) if "IAX2/1001-" in e.get("Channel", "")
        ]
        f.check(
            bool(rang) and float(rang[0]["_t"]) < float(outside["_t"]),
            "the agent's phone rang before the number",
        )
        f.equal(outside.get("CallerIDNum"), MAIN_LINE, "the caller ID the outside party got")
        f.equal(box.agent_state("1001"), "on_call", "agent 1001 on its desk call")
        time.sleep(1)

        consult_at = box.ast.ami.mark()
        status, said = control(box, "consult", kind="number", target="5559876")
        f.equal(status, 200, f"consult: {said}")
        box.ast.ami.wait_event(
            lambda e: (
                e.get("UserEvent") == "HarnessOutsideAnswered" and e.get("Number") == "5559876"
            ),
            20,
            "5559876 answering",
            consult_at,
        )
        time.sleep(1)
        ended = three_way_then_1001_leaves(box, f, consult_at)
        f.check(
            not any("harness-pstn" in c for c in ended),
            f"the two outside parties still talk after 1001 left: {ended}",
        )
        deadline = time.time() + 10
        while box.agent_state("1001") == "on_call" and time.time() < deadline:
            time.sleep(0.2)
        f.equal(box.agent_state("1001"), "available", "agent 1001 after leaving")
        f.verdict()


def test_originate_writes_the_auto_answer_headers_as_a_function(box: RealBox) -> None:
    """The auto-answer headers ccbox puts in an Originate for a PJSIP phone: Asterisk keeps
    ``PJSIP_HEADER(add,Call-Info)=...`` whole (the comma is inside the parentheses) and
    writes it as a function on the new channel before calling it (here an IAX2 phone and no
    PJSIP module: the function's write is refused in the log, and the call goes on)."""
    box.phone("1002", ring=1, talk=2)
    mark = box.ast.ami.mark()
    headers = [
        ("Channel", "IAX2/1002"),
        ("Context", "ccbox-desk-hold"),
        ("Exten", "0"),
        ("Priority", "1"),
        ("Async", "true"),
        *(("Variable", f"{name}={value}") for name, value in actions.AUTO_ANSWER_HEADERS),
    ]
    r = box.ast.ami.action_list("Originate", headers)
    assert r.get("Response") == "Success", r
    box.wait_phone_answered("1002", since=mark)
    log = [line for line in box.ast.log().splitlines() if "PJSIP_HEADER" in line]
    print("\n".join(log))
    assert log, "Asterisk never wrote PJSIP_HEADER() as a function"
    assert "Call-Info)" not in [e.get("Variable") for e in box.events("VarSet", since=mark)]


def test_the_caller_hangs_up_on_hold(box: RealBox) -> None:
    """Asterisk's transfer fails when the party on hold hangs up and leaves the agent with
    the silent hold leg; ccbox hangs that leg up as the call ends for the agent, and the
    agent's phone is free again."""
    caller, mark = agent_1001_on_a_call(box)
    time.sleep(1)
    f = Findings()
    held_at = box.ast.ami.mark()
    status, said = control(box, "hold")
    f.equal((status, said.get("message")), (200, "the caller is on hold"), f"hold: {said}")
    hold_leg = event(box, "Newchannel", held_at, Channel="Local/0@ccbox-desk-hold-")["Channel"]
    agent_leg = event(box, "Newchannel", mark, Channel="IAX2/1001-")["Channel"]
    time.sleep(1)
    gone_at = box.ast.ami.mark()
    box.hang_up_channel(caller.channel)
    event(box, "Hangup", gone_at, 15, Channel=hold_leg)
    event(box, "Hangup", gone_at, 15, Channel=agent_leg)
    box.wait_agent_state("1001", "available", timeout=15)
    f.check(
        ": hanging up Local/0@ccbox-desk-hold-" in box.daemon_log(),
        "ccboxd did not hang up the hold leg itself",
    )
    f.verdict()
