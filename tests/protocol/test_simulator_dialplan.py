"""The simulator routes by the dialplan as Asterisk does: Originate, Redirect, Dial's hangup
causes, channel names, uniqueids and Atxfer, each held to the traces' facts."""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from drivers.asterisk import confgen
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.ami.codec import Message
from drivers.asterisk.confgen import MANAGER_READ, MANAGER_WRITE
from drivers.asterisk.dialplan import parse
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.manager import _perms
from drivers.asterisk.simulator.pbx import Unsupported
from drivers.asterisk.simulator.switch import Device, SimChannel, Switch
from tests.support.sim_rig import Rig, trace_messages

# The lab's agent phone 1001 (asterisk-lab/extensions.conf) and the contexts of
# originate-unknown-extension.trace / dialplan-patterns.txt.
AGENT_PHONES = (
    "[agent-phones]\nexten => 1001,1,Wait(1)\n same => n,Answer()\n"
    " same => n,Playback(demo-congrats)\n same => n,Wait(2)\n same => n,Hangup()\n"
)
PATTERNS = parse(
    "[trace-pat-xdot]\nexten => _X.,1,NoOp()\n[trace-pat-xbang]\nexten => _X!,1,NoOp()\n"
    + AGENT_PHONES
)


def originate(rig: Rig, action_id: str, context: str, exten: str, **extra: str) -> None:
    headers = {
        "Channel": "Local/1001@agent-phones",
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        "CallerID": '"Zhang San" <13800138000>',
        "Async": "true",
        "Timeout": "10000",
        **extra,
    }
    rig.send(
        f"Action: Originate\r\nActionID: {action_id}\r\n"
        + "\r\n".join(f"{k}: {v}" for k, v in headers.items())
    )


def run(rig: Rig, seconds: float) -> None:
    """Time passes in small steps (a Clock schedules what a step starts from its end)."""
    for _ in range(round(seconds * 10)):
        rig.clock.advance(0.1)


def as_dicts(messages: list[Message], action_id: str) -> list[dict[str, str]]:
    return [m.as_dict() for m in messages if m.action_id == action_id and m.response]


# ---- Originate ------------------------------------------------------------------------------


def test_originate_into_a_missing_extension_or_context_fails_at_once_as_in_the_trace() -> None:
    rig = Rig(dialplan=PATTERNS)
    expected = [m for m in trace_messages("originate-unknown-extension") if m.response]
    for action in trace_messages("originate-unknown-extension", ">")[:4]:  # a2..a5
        rig.send("\r\n".join(f"{k}: {v}" for k, v in action.headers))
    run(rig, 15)
    ours = rig.read()
    assert [m.as_dict() for m in ours] == [m.as_dict() for m in expected[:4]]
    assert {m["Message"] for m in ours} == {"Extension does not exist."}
    assert rig.switch.channels == {} and rig.switch.events_emitted == 0  # no channel, no event


def test_originate_into_matching_patterns_is_queued_and_answered_as_in_the_trace() -> None:
    rig = Rig(dialplan=PATTERNS)
    originate(rig, "a6", "trace-pat-xdot", "12")
    originate(rig, "a7", "trace-pat-xbang", "1")
    assert [m.as_dict() for m in rig.read() if m.response] == [
        {"Response": "Success", "ActionID": a, "Message": "Originate successfully queued"}
        for a in ("a6", "a7")
    ]
    run(rig, 2)
    responses = {m.action_id: m for m in rig.events("OriginateResponse")}
    trace = next(
        m
        for m in trace_messages("originate-unknown-extension")
        if m.event == "OriginateResponse" and m.action_id == "a6"
    )
    for action_id in ("a6", "a7"):
        assert [k for k, _ in responses[action_id].headers] == [k for k, _ in trace.headers]
        assert (responses[action_id]["Response"], responses[action_id]["Reason"]) == (
            "Success",
            "4",
        )
        # The leg handed back is ;1 of the Local channel, as Asterisk names it.
        assert responses[action_id]["Channel"].startswith("Local/1001@agent-phones-")
        assert responses[action_id]["Channel"].endswith(";1")
    # Each ;1 ran only NoOp(): its dialplan ended, Hangup Cause 0 (Unknown), and its ;2
    # (still in agent-phones) went with it, 0 too.
    ones = [m for m in rig.events("Newexten") if m["Channel"].endswith(";1")]
    assert [(m["Exten"], m["Application"]) for m in ones] == [("12", "NoOp"), ("1", "NoOp")]
    hangups = [(m["Channel"][-2:], m["Cause"], m["Cause-txt"]) for m in rig.events("Hangup")]
    assert hangups == [(";1", "0", "Unknown"), (";2", "0", "Unknown")] * 2
    assert [m["Cause"] for m in rig.events("SoftHangupRequest")] == ["16"] * 4
    assert rig.switch.channels == {}
    # In the trace's order: ;1's soft hangup, ;2 asked (0), ;1 gone, ;2's soft hangup, ;2 gone.
    ends = ("SoftHangupRequest", "HangupRequest", "Hangup")
    ours = [(m.event, m["Channel"][-2:], m["Cause"]) for m in rig.events() if m.event in ends]
    theirs = [
        (m.event, m["Channel"][-2:], m["Cause"])
        for m in trace_messages("originate-unknown-extension")
        if m.event in ends and m["Channel"].startswith("Local/1001@agent-phones-00000067")
    ]
    assert ours[:5] == theirs


def test_callback_into_exten_1_needs_a_pattern_that_takes_one_character() -> None:
    # The generated dialplan of an older ccbox had _X. in ccbox-callback: callback 1 failed.
    old = parse("[ccbox-callback]\nexten => _X.,1,AGI(agi://127.0.0.1:4573/callback,${EXTEN})\n")
    rig = Rig(dialplan=old)
    originate(rig, "c1", "ccbox-callback", "1", Channel="PJSIP/1001")
    originate(rig, "c2", "ccbox-callback", "12", Channel="PJSIP/1001")
    assert [m["Response"] for m in rig.read() if m.response] == ["Error", "Success"]
    # The generated dialplan of today takes 1 (and the default rig loads it).
    rig = Rig()
    originate(rig, "c3", "ccbox-callback", "1", Channel="PJSIP/1001")
    assert as_dicts(rig.read(), "c3")[0]["Response"] == "Success"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"Channel": ""}, "Channel not specified"),
        ({"Priority": "nolabel"}, "Invalid priority"),
        ({"Timeout": "soon"}, "Invalid timeout"),
        ({"Channel": "PJSIP1001"}, "Invalid channel"),
        ({"Exten": "1"}, "Extension does not exist."),
        ({"Context": "trace-no-such-context"}, "Extension does not exist."),
    ],
)
def test_originate_checks_in_managers_order(extra: dict[str, str], message: str) -> None:
    rig = Rig(dialplan=PATTERNS)
    originate(rig, "o1", "trace-pat-xdot", "12", **extra)
    assert as_dicts(rig.read(), "o1") == [
        {"Response": "Error", "ActionID": "o1", "Message": message}
    ]
    assert rig.switch.channels == {}


def test_an_application_the_simulator_lacks_is_refused_by_name_not_pretended() -> None:
    plan = parse(
        "[q]\nexten => 1,1,Answer()\n same => n,Queue(support)\n"
        "[g]\nexten => 1,1,Answer()\n same => n,Goto(q,1,2)\n"
    )
    rig = Rig(dialplan=plan, devices={"PJSIP/1001": Device(ring_s=1.0)})
    originate(rig, "q1", "q", "1", Channel="PJSIP/1001")
    [refused] = as_dicts(rig.read(), "q1")
    assert refused["Response"] == "Error" and "Queue" in refused["Message"]
    assert rig.switch.channels == {}
    # Reached through a Goto at run time: the channel is hung up and the refusal kept.
    originate(rig, "g1", "g", "1", Channel="PJSIP/1001")
    run(rig, 2)
    assert rig.switch.pbx.refusals and "Queue" in rig.switch.pbx.refusals[0]
    assert rig.switch.channels == {}
    assert [m["Application"] for m in rig.events("Newexten")] == ["Answer", "Goto"]


# ---- Redirect ---------------------------------------------------------------------------------


def parked_channel(rig: Rig) -> SimChannel:
    """A channel waiting in a dialplan Wait (no AGI, no bridge)."""
    ch = rig.switch.new_channel("PJSIP/1005-0000000f", state=6, context="x", exten="1")
    rig.switch.pbx.dialplan.contexts.update(parse("[hold]\nexten => 1,1,Wait(600)\n").contexts)
    rig.switch.enter(ch, "hold", "1")
    return ch


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("Context: ccbox-transfer-queue\r\nExten: 7\r\nPriority: 1", "Channel not specified"),
        ("Channel: {ch}\r\nExten: 7\r\nPriority: 1", "Context not specified"),
        ("Channel: {ch}\r\nContext: ccbox-transfer-queue\r\nPriority: 1", "Exten not specified"),
        ("Channel: {ch}\r\nContext: ccbox-transfer-queue\r\nExten: 7", "Priority not specified"),
        (
            "Channel: {ch}\r\nContext: ccbox-transfer-queue\r\nExten: 7\r\nPriority: x",
            "Priority is invalid",
        ),
        (
            "Channel: PJSIP/9-1\r\nContext: ccbox-transfer-queue\r\nExten: 7\r\nPriority: 1",
            "Channel does not exist: PJSIP/9-1",
        ),
    ],
)
def test_redirect_refusals_are_managers(headers: str, message: str) -> None:
    rig = Rig()
    ch = parked_channel(rig)
    rig.send("Action: Redirect\r\nActionID: r1\r\n" + headers.format(ch=ch.name))
    assert as_dicts(rig.read(), "r1") == [
        {"Response": "Error", "ActionID": "r1", "Message": message}
    ]
    assert ch.alive and ch.context == "hold"


def test_redirect_into_a_missing_extension_succeeds_then_the_channel_hangs_up() -> None:
    rig = Rig(dialplan=PATTERNS)
    ch = parked_channel(rig)
    rig.read()
    rig.send(
        f"Action: Redirect\r\nActionID: r2\r\nChannel: {ch.name}\r\n"
        "Context: trace-pat-xdot\r\nExten: 1\r\nPriority: 1"
    )
    # manager.c checks no extension: the answer is a success...
    assert as_dicts(rig.read(), "r2") == [
        {"Response": "Success", "ActionID": "r2", "Message": "Redirect successful"}
    ]
    # ...and the channel, sent to an invalid extension with no 'i', ends its dialplan.
    assert not ch.alive
    assert [m["Cause"] for m in rig.events("SoftHangupRequest")] == ["16"]
    assert [m["Cause"] for m in rig.events("Hangup")] == ["0"]


def test_redirect_to_an_invalid_extension_goes_to_i_when_the_context_has_one() -> None:
    plan = parse("[t]\nexten => 5,1,NoOp()\nexten => i,1,Wait(60)\n")
    rig = Rig(dialplan=plan)
    ch = parked_channel(rig)
    rig.send(
        f"Action: Redirect\r\nActionID: r3\r\nChannel: {ch.name}\r\n"
        "Context: t\r\nExten: 42\r\nPriority: 1"
    )
    assert as_dicts(rig.read(), "r3")[0]["Response"] == "Success"
    assert ch.alive and (ch.exten, ch.application) == ("i", "Wait")
    assert ch.variables["INVALID_EXTEN"] == "42"


def test_dual_redirect_moves_both_channels() -> None:
    started: list[tuple[str, str, str]] = []
    rig = Rig()
    rig.switch.agi_starter = lambda ch, script, exten: started.append((ch.name, script, exten))
    ch = parked_channel(rig)
    other = rig.switch.new_channel("PJSIP/1006-00000010", state=6, context="x", exten="1")
    rig.switch.enter(other, "hold", "1")
    rig.send(
        f"Action: Redirect\r\nActionID: r5\r\nChannel: {ch.name}\r\n"
        "Context: ccbox-transfer-queue\r\nExten: 1\r\nPriority: 1\r\n"
        f"ExtraChannel: {other.name}\r\nExtraContext: ccbox-transfer-agent\r\n"
        "ExtraExten: 1001\r\nExtraPriority: 1"
    )
    assert as_dicts(rig.read(), "r5") == [
        {"Response": "Success", "ActionID": "r5", "Message": "Dual Redirect successful"}
    ]
    assert started == [
        (ch.name, "transfer-queue", "1"),
        (other.name, "transfer-agent", "1001"),
    ]


def test_redirect_into_a_matching_extension_runs_it() -> None:
    started: list[tuple[str, str, str]] = []
    rig = Rig()
    rig.switch.agi_starter = lambda ch, script, exten: started.append((ch.name, script, exten))
    ch = parked_channel(rig)
    rig.send(
        f"Action: Redirect\r\nActionID: r4\r\nChannel: {ch.name}\r\n"
        "Context: ccbox-transfer-queue\r\nExten: 1\r\nPriority: 1"
    )
    assert as_dicts(rig.read(), "r4")[0]["Message"] == "Redirect successful"
    assert started == [(ch.name, "transfer-queue", "1")]
    assert ch.agi_arg == "1" and ch.application == "AGI"


# ---- the dialplan after AGI ---------------------------------------------------------------------


@pytest.mark.parametrize(("mark", "fallback"), [("1", False), ("", True)])
def test_after_agi_the_generated_dialplan_plays_the_fallback_only_without_ccboxd(
    mark: str, fallback: bool
) -> None:
    rig = Rig()
    ch = rig.switch.trunk_call("13800138000", "Zhang San", "4008001234")
    assert ch.application == "AGI" and ch.context == "ccbox-inbound"
    if mark:
        ch.variables["CCBOX_AGI"] = mark  # ccboxd's first command in every session
    rig.switch.agi_ended(ch, "FAILURE")  # a missing sound made it FAILURE: no matter
    apps = [m["Application"] for m in rig.events("Newexten")]
    assert ("Playback" in apps) is fallback
    assert not ch.alive


def test_a_trunk_call_into_a_missing_extension_is_refused() -> None:
    rig = Rig(dialplan=PATTERNS)
    with pytest.raises(Unsupported, match="does not exist"):
        rig.switch.trunk_call("13800138000", "Zhang San", "4008001234")
    assert rig.switch.channels == {}


# ---- Dial from the dialplan: hangup causes and names -------------------------------------------

LAB_AGENTS = parse("[ccbox-agents]\nexten => _X!,1,Dial(IAX2/${EXTEN},30)\n same => n,Hangup()\n")


def agent_call(rig: Rig, exten: str) -> None:
    """Originate a channel into [ccbox-agents] (the lab's Dial(IAX2/${EXTEN},30))."""
    originate(rig, "d1", "ccbox-agents", exten, Channel="PJSIP/2001")
    run(rig, 1.5)  # PJSIP/2001 answers; the dialplan dials the agent


def dial_ends(rig: Rig) -> list[Message]:
    """DialEnd of the dialplan's Dial (not of the Originate that placed the call)."""
    return [m for m in rig.events("DialEnd") if "Channel" in m]


def leg_events(rig: Rig, prefix: str) -> list[tuple[str, str | None]]:
    return [
        (m.event or "", m.get("Cause"))
        for m in rig.events()
        if (m.get("Channel") or "").startswith(prefix)
        and m.event in ("HangupRequest", "SoftHangupRequest", "Hangup")
    ]


def test_busy_agent_17_on_its_leg_and_on_the_callers_later_hangup() -> None:
    rig = Rig(dialplan=LAB_AGENTS, devices={"PJSIP/2001": Device(), "IAX2/1003": Device(busy=True)})
    agent_call(rig, "1003")
    [end] = dial_ends(rig)
    assert end["DialStatus"] == "BUSY" and end["DestChannelStateDesc"] == "Ringing"
    assert leg_events(rig, "IAX2/1003-") == [("HangupRequest", "17"), ("Hangup", "17")]
    # Hangup() after the Dial: the soft hangup says 16, the Hangup the cause Dial left (17).
    assert leg_events(rig, "PJSIP/2001-") == [("SoftHangupRequest", "16"), ("Hangup", "17")]
    assert [m["Cause-txt"] for m in rig.events("Hangup")] == ["User busy", "User busy"]


def test_no_answer_request_without_cause_and_hangup_0() -> None:
    rig = Rig(dialplan=LAB_AGENTS, devices={"IAX2/1002": Device(answers=False)})
    agent_call(rig, "1002")
    run(rig, 31)
    assert dial_ends(rig)[0]["DialStatus"] == "NOANSWER"
    assert leg_events(rig, "IAX2/1002-") == [("HangupRequest", None), ("Hangup", "0")]
    assert leg_events(rig, "PJSIP/2001-") == [("SoftHangupRequest", "16"), ("Hangup", "0")]


def test_unavailable_peer_no_channel_no_dial_events_cause_20() -> None:
    rig = Rig(dialplan=LAB_AGENTS, devices={"IAX2/1999": Device(unavailable=True)})
    agent_call(rig, "1999")
    assert dial_ends(rig) == [] and [m for m in rig.events("DialBegin") if "Channel" in m] == []
    assert not [m for m in rig.events("Newchannel") if m["Channel"].startswith("IAX2/")]
    [hangup] = rig.events("Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("20", "Subscriber absent")


def test_answered_agent_who_hangs_up_ends_the_call_with_16() -> None:
    rig = Rig(dialplan=LAB_AGENTS, devices={"IAX2/1004": Device(ring_s=1.0, talk_s=3.0)})
    agent_call(rig, "1004")
    run(rig, 10)
    assert leg_events(rig, "IAX2/1004-") == [("HangupRequest", "16"), ("Hangup", "16")]
    assert leg_events(rig, "PJSIP/2001-") == [("SoftHangupRequest", "16"), ("Hangup", "16")]
    assert rig.switch.channels == {}


def test_channel_names_and_dial_strings_as_device_channel_names_shows() -> None:
    plan = parse(
        "[ccbox-agents]\nexten => _X!,1,Dial(IAX2/${EXTEN},30)\n"
        "[phones]\nexten => _X!,1,Dial(Local/${EXTEN}@agent-phones/n,30)\n" + AGENT_PHONES
    )
    rig = Rig(dialplan=plan, devices={"IAX2/1001": Device()})
    agent_call(rig, "1001")
    originate(rig, "d2", "phones", "1001", Channel="PJSIP/2002")
    run(rig, 3)
    begins = [m for m in rig.events("DialBegin") if "Channel" in m]  # from a channel's Dial
    iax, local = begins
    assert iax["DialString"] == "1001"
    assert iax["DestChannel"].startswith("IAX2/1001-")
    assert iax["DestChannel"].rpartition("-")[2].isdigit()  # decimal, unpadded
    assert not iax["DestChannel"].rpartition("-")[2].startswith("0")
    assert local["DialString"] == "1001@agent-phones/n"
    name = local["DestChannel"]
    assert name.startswith("Local/1001@agent-phones-") and name.endswith(";1")
    counter = name[len("Local/1001@agent-phones-") : -2]
    assert len(counter) == 8 and int(counter, 16) >= 0
    originated = [m for m in rig.events("DialBegin") if "Channel" not in m]
    assert [m["DialString"] for m in originated] == ["2001", "2002"]


# ---- uniqueids --------------------------------------------------------------------------------


def test_uniqueids_come_from_the_clock_so_a_second_run_never_repeats_them() -> None:
    def ids(now: float) -> list[str]:
        clock = Clock()
        clock.advance(now)
        switch = Switch(clock)
        return [switch.trunk_call("1", "", "4008001234").uniqueid for _ in range(3)]

    first, second = ids(1796529944.5), ids(1796530100.2)
    assert first == ["1796529944.1", "1796529944.2", "1796529944.3"]
    assert second[0].startswith("1796530100.")
    assert not set(first) & set(second)


# ---- Atxfer ------------------------------------------------------------------------------------


def bridged_pair(rig: Rig, features: set[str]) -> tuple[SimChannel, SimChannel]:
    caller = rig.switch.new_channel("DAHDI/1-1", state=6, context="ccbox-inbound", exten="1")
    agent = rig.switch.new_channel("IAX2/1004-8448", state=6, context="", exten="1")
    agent.features |= features
    rig.switch.bridge(caller, agent)
    rig.read()
    return caller, agent


def test_atxfer_without_t_is_queued_and_the_digits_reach_the_caller_as_in_the_trace() -> None:
    rig = Rig()
    caller, agent = bridged_pair(rig, set())
    sent = [
        a for a in trace_messages("atxfer-without-t-option", ">") if a.get("Action") == "Atxfer"
    ]
    [action] = sent
    rig.send("\r\n".join(f"{k}: {v}" for k, v in action.headers))
    run(rig, 2)
    theirs = [m for m in trace_messages("atxfer-without-t-option") if m.action_id == "a7"]
    rig.read()
    assert as_dicts(rig.messages, "a7") == [m.as_dict() for m in theirs]
    [varset] = rig.events("VarSet")
    assert (varset["Variable"], varset["Value"]) == ("TRANSFER_CONTEXT", "ccbox-agents")
    received = [m["Digit"] for m in rig.events("DTMFEnd") if m["Channel"] == agent.name]
    sent_to_caller = [
        (m.event, m["Digit"], m["Direction"])
        for m in rig.events()
        if m.event in ("DTMFBegin", "DTMFEnd") and m["Channel"] == caller.name
    ]
    assert received == list("*21001")
    assert [d for e, d, _ in sent_to_caller if e == "DTMFEnd"] == list("*21001")
    assert {direction for *_, direction in sent_to_caller} == {"Sent"}
    trace_end = next(
        m
        for m in trace_messages("atxfer-without-t-option")
        if m.event == "DTMFEnd" and m["Direction"] == "Sent"
    )
    ours_end = next(m for m in rig.events("DTMFEnd") if m["Direction"] == "Sent")
    assert [k for k, _ in ours_end.headers] == [k for k, _ in trace_end.headers]
    # nothing was transferred: same bridge, no new channel, no AttendedTransfer
    assert caller.bridge is agent.bridge is not None
    assert rig.events("AttendedTransfer") == [] and len(rig.events("Newchannel")) == 2


def test_atxfer_with_t_transfers_as_in_the_trace() -> None:
    rig = Rig(
        devices={
            "PJSIP/1004": Device(ring_s=1.0),
            "PJSIP/1001": Device(ring_s=1.0, talk_s=20.0),
        }
    )
    seen: dict[str, Any] = {}
    agent: list[SimChannel] = []

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        seen["dial"] = await s.exec_("Dial", "PJSIP/1004,20,t")
        seen["at"] = rig.clock.seconds() - 1795353000
        seen["status"] = await s.get_variable("DIALSTATUS")
        seen["peer"] = await s.get_variable("DIALEDPEERNAME")
        seen["up"] = await s.channel_status()
        return seen

    def atxfer() -> None:
        agent.append(
            next(c for c in rig.switch.channels.values() if c.name.startswith("PJSIP/1004"))
        )
        assert "t" in agent[0].features
        rig.send(
            f"Action: Atxfer\r\nActionID: t1\r\nChannel: {agent[0].name}\r\n"
            "Exten: 1001\r\nContext: ccbox-agents"
        )

    def agent_hangs_up() -> None:
        rig.switch.request_hangup(agent[0], 16)
        rig.switch.hangup(agent[0], 16)

    rig.clock.callLater(3, atxfer)
    rig.clock.callLater(12, agent_hangs_up)
    rig.call(CallerScript(patience_s=120), body, max_seconds=60)
    assert as_dicts(rig.messages, "t1") == [
        {"Response": "Success", "ActionID": "t1", "Message": "Atxfer successfully queued"}
    ]
    # DTMF on the agent, Hold, music for the caller, then the consult call.
    digits = [m["Digit"] for m in rig.events("DTMFEnd") if m["Channel"] == agent[0].name]
    assert digits == list("*21001")
    assert [m["Channel"] for m in rig.events("Hold")] == [agent[0].name]
    assert [m["Class"] for m in rig.events("MusicOnHoldStart")] == ["default"]
    consult = [m for m in rig.events("DialBegin") if m["DestChannel"].startswith("Local/")]
    assert consult and consult[0]["DestChannel"].startswith("Local/1001@ccbox-agents-")
    # The merge and the transfer, with the trace's headers.
    for event in ("BridgeMerge", "AttendedTransfer", "Hold"):
        trace = next(m for m in trace_messages("atxfer-and-mixmonitor-mute") if m.event == event)
        [ours] = rig.events(event)
        assert [k for k, _ in ours.headers] == [k for k, _ in trace.headers], event
    [xfer] = rig.events("AttendedTransfer")
    assert (xfer["Result"], xfer["DestType"]) == ("Success", "Bridge")
    assert xfer["OrigTransfererChannel"] == xfer["SecondTransfererChannel"] == agent[0].name
    assert xfer["TransfereeChannel"] == "DAHDI/1-1"
    assert xfer["TransferTargetChannel"] == consult[0]["DestChannel"]
    [merge] = rig.events("BridgeMerge")
    assert merge["ToBridgeUniqueid"] == xfer["DestBridgeUniqueid"] == xfer["OrigBridgeUniqueid"]
    assert merge["FromBridgeUniqueid"] == xfer["SecondBridgeUniqueid"]
    assert len(rig.events("MusicOnHoldStop")) == 1
    assert [m["Cause"] for m in rig.events("Hangup") if m["Channel"] == agent[0].name] == ["16"]
    # Local optimization put the caller in the bridge with the target's phone...
    [begin] = rig.events("LocalOptimizationBegin")
    assert begin["SourceChannel"] == "DAHDI/1-1"
    target_phone = [m["Channel"] for m in rig.events("Newchannel")]
    target_phone = [n for n in target_phone if n.startswith("PJSIP/1001-")]
    entered = [m for m in rig.events("BridgeEnter") if m["Channel"] == "DAHDI/1-1"]
    assert entered[-1]["BridgeUniqueid"] == next(
        m["BridgeUniqueid"] for m in rig.events("BridgeEnter") if m["Channel"] == target_phone[0]
    )
    # ...and the caller's Dial stayed blocked until the target hung up (20 s of talk).
    assert seen["dial"] == -1 and seen["status"] == "ANSWER" and seen["up"] == 6
    assert seen["peer"] == agent[0].name  # DIALEDPEERNAME still names the first agent
    assert seen["at"] > 27  # the target answered at about 7.8 s and talked 20 s


def test_atxfer_to_a_busy_target_returns_the_agent_to_the_caller() -> None:
    rig = Rig(devices={"PJSIP/1003": Device(busy=True)})
    caller, agent = bridged_pair(rig, {"t"})
    original = caller.bridge
    rig.send(
        f"Action: Atxfer\r\nActionID: b1\r\nChannel: {agent.name}\r\nExten: 1003\r\n"
        "Context: ccbox-agents"
    )
    run(rig, 5)
    assert [m["DialStatus"] for m in rig.events("DialEnd")] == ["BUSY", "BUSY"]  # ;2's, ;1's
    assert agent.bridge is original is caller.bridge and agent.transfer is None
    assert [m["Channel"] for m in rig.events("Unhold")] == [agent.name]
    assert [m["Channel"] for m in rig.events("MusicOnHoldStop")] == [caller.name]
    assert rig.events("AttendedTransfer") == []


def test_atxfer_while_the_target_rings_is_refused_loudly_when_the_agent_hangs_up() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(answers=False)})
    _caller, agent = bridged_pair(rig, {"t"})
    rig.send(
        f"Action: Atxfer\r\nActionID: r1\r\nChannel: {agent.name}\r\nExten: 1001\r\n"
        "Context: ccbox-agents"
    )
    run(rig, 5)
    rig.switch.hangup(agent, 16)
    assert rig.switch.pbx.refusals and "still rings" in rig.switch.pbx.refusals[0]
    assert rig.events("AttendedTransfer") == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ("Exten: 1001", "No channel specified"),
        ("Channel: IAX2/1004-8448", "No extension specified"),
        ("Channel: IAX2/9-1\r\nExten: 1", "Channel specified does not exist"),
    ],
)
def test_atxfer_refusals_are_managers(headers: str, message: str) -> None:
    rig = Rig()
    bridged_pair(rig, set())
    rig.send(f"Action: Atxfer\r\nActionID: x2\r\n{headers}")
    assert as_dicts(rig.read(), "x2") == [
        {"Response": "Error", "ActionID": "x2", "Message": message}
    ]


def test_supervisor_spy_runs_through_the_generated_dialplan() -> None:
    rig = Rig(devices={"PJSIP/2001": Device(ring_s=1.0)})
    _caller, agent = bridged_pair(rig, set())
    rig.send(
        "Action: Originate\r\nActionID: s1\r\nChannel: PJSIP/2001\r\nContext: ccbox-supervise\r\n"
        "Exten: barge\r\nPriority: 1\r\nAsync: true\r\n"
        f"Variable: CCBOX_SPY_TARGET={agent.name}"
    )
    run(rig, 2)
    assert [(m["Application"], m["AppData"]) for m in rig.events("Newexten")] == [
        ("Answer", ""),
        ("ChanSpy", f"{agent.name},qEuB"),
    ]
    assert rig.events("ChanSpyStart")[0]["SpyeeChannel"] == agent.name
    rig.switch.hangup(agent, 16)
    assert rig.events("ChanSpyStop") and rig.switch.channels.keys() == {_caller.uniqueid}


# ---- Local channels ---------------------------------------------------------------------------

LOCAL_PLAN_TEXT = (
    "[ccbox-agents]\nexten => _X!,1,Dial(IAX2/${EXTEN},30)\n same => n,Hangup()\n"
    "[pstn-out]\nexten => _X.,1,Wait(1)\n same => n,Answer()\n same => n,Playback(demo-congrats)\n"
    " same => n,Wait(3)\n same => n,Hangup()\n"
    "[ccbox-inbound]\nexten => _X!,1,AGI(agi://127.0.0.1:4573/inbound,${EXTEN})\n"
)
LOCAL_PLAN = parse(LOCAL_PLAN_TEXT)


def dial_local(target: str, devices: dict[str, Device]) -> tuple[Rig, dict[str, Any]]:
    """A FastAGI caller runs EXEC Dial of ``target`` (then CHANNEL STATUS, DIALEDPEERNAME)."""
    rig = Rig(dialplan=LOCAL_PLAN, devices=devices)
    seen: dict[str, Any] = {}

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        seen["dial"] = await s.exec_("Dial", f"{target},20")
        seen["at"] = rig.clock.seconds()
        seen["status"] = await s.get_variable("DIALSTATUS")
        seen["peer"] = await s.get_variable("DIALEDPEERNAME")
        seen["up"] = await s.channel_status()
        return seen

    rig.call(CallerScript(patience_s=60), body, max_seconds=30)
    return rig, seen


def names(rig: Rig, event: str) -> list[str]:
    return [m["Channel"] for m in rig.events(event)]


def test_a_local_pair_whose_2_dials_on_optimizes_itself_away_as_in_the_trace() -> None:
    rig, seen = dial_local("Local/1001@ccbox-agents", {"IAX2/1001": Device(ring_s=1.0, talk_s=8.0)})
    new = names(rig, "Newchannel")
    one, two = new[1], new[2]
    assert one.startswith("Local/1001@ccbox-agents-") and one.endswith(";1")
    assert two == one[:-1] + "2" and new[3].startswith("IAX2/1001-")
    [local_bridge] = rig.events("LocalBridge")
    assert local_bridge["LocalOptimization"] == "Yes"
    # The caller's Dial hands back ;1; the nested Dial runs on ;2 with DialString 1001.
    begins = [(m["Channel"], m["DestChannel"], m["DialString"]) for m in rig.events("DialBegin")]
    assert begins == [("DAHDI/1-1", one, "1001@ccbox-agents"), (two, new[3], "1001")]
    # The optimization: the headers of the trace's events, in the trace's order.
    order = [
        (m.event, m.get("Channel"))
        for m in rig.events()
        if m.event
        in ("LocalOptimizationBegin", "LocalOptimizationEnd", "BridgeLeave", "BridgeEnter")
    ]
    start = order.index(("LocalOptimizationBegin", None))
    assert order[start : start + 5] == [
        ("LocalOptimizationBegin", None),
        ("BridgeLeave", new[3]),
        ("BridgeLeave", one),
        ("BridgeEnter", new[3]),
        ("LocalOptimizationEnd", None),
    ]
    for event in ("LocalOptimizationBegin", "LocalOptimizationEnd"):
        trace = next(m for m in trace_messages("local-optimization-callback") if m.event == event)
        [ours] = rig.events(event)
        assert [k for k, _ in ours.headers] == [k for k, _ in trace.headers]
    [begin], [end] = rig.events("LocalOptimizationBegin"), rig.events("LocalOptimizationEnd")
    assert (begin["SourceChannel"], begin["DestUniqueId"]) == (new[3], begin["LocalTwoUniqueid"])
    assert end["Success"] == "No" and end["Id"] == begin["Id"]
    assert rig.events("Rename") == []
    local_hangups = [(m["Channel"], m["Cause"]) for m in rig.events("Hangup")][:2]
    assert local_hangups == [(one, "16"), (two, "16")]
    # The Dial stayed blocked until the phone hung up (8 s of talk), with the caller up,
    # and DIALEDPEERNAME names the ;1 that is gone.
    assert seen["dial"] == -1 and seen["status"] == "ANSWER" and seen["up"] == 6
    assert seen["peer"] == one
    assert seen["at"] - 1795353000 >= 9


def test_a_local_pair_whose_2_only_runs_applications_stays() -> None:
    rig, seen = dial_local("Local/5551234@pstn-out", {})
    assert rig.events("LocalOptimizationBegin") == []
    [local_bridge] = rig.events("LocalBridge")
    one = local_bridge["LocalOneChannel"]
    bridged = {m["Channel"] for m in rig.events("BridgeEnter")}
    assert bridged == {"DAHDI/1-1", one}
    # ;2 played, waited and hung up: the pair ended together, the Dial returned -1.
    assert seen["dial"] == -1 and seen["peer"] == one
    ends = [m["Channel"][-2:] for m in rig.events("Hangup") if m["Channel"].startswith("Local/")]
    assert sorted(ends) == [";1", ";2"]


def test_slash_n_keeps_the_pair() -> None:
    rig, _seen = dial_local("Local/1001@ccbox-agents/n", {"IAX2/1001": Device(talk_s=3.0)})
    [local_bridge] = rig.events("LocalBridge")
    assert local_bridge["LocalOptimization"] == "No"
    assert rig.events("LocalOptimizationBegin") == []
    assert rig.events("DialBegin")[0]["DialString"] == "1001@ccbox-agents/n"


def test_a_busy_phone_behind_a_local_pair_is_busy_for_the_caller() -> None:
    rig, seen = dial_local("Local/1003@ccbox-agents", {"IAX2/1003": Device(busy=True)})
    assert seen["dial"] == 0 and seen["status"] == "BUSY"
    assert rig.events("BridgeEnter") == []


def test_a_local_target_that_does_not_exist_is_chanunavail() -> None:
    rig, seen = dial_local("Local/1001@agent-phones", {})
    assert seen["dial"] == 0 and seen["status"] == "CHANUNAVAIL"
    assert not [m for m in rig.events("Newchannel") if m["Channel"].startswith("Local/")]


def test_congestion_behind_a_local_pair_34_on_2_and_0_on_1() -> None:
    plan = parse(LOCAL_PLAN_TEXT + "[trace-congestion]\nexten => _X.,1,Congestion()\n")
    rig = Rig(dialplan=plan)
    seen: dict[str, Any] = {}

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        seen["dial"] = await s.exec_("Dial", "Local/5551234@trace-congestion/n,20")
        seen["status"] = await s.get_variable("DIALSTATUS")
        return seen

    rig.call(CallerScript(patience_s=5), body, max_seconds=10)
    assert seen == {"dial": 0, "status": "CONGESTION"}
    causes = {
        m["Channel"][-2:]: (m["Cause"], m["ChannelStateDesc"])
        for m in rig.events("Hangup")
        if m["Channel"].startswith("Local/")
    }
    assert causes[";2"] == ("34", "Busy") and causes[";1"][0] == "0"
    assert rig.events("BridgeEnter") == []


def test_device_state_changes_name_the_device_as_asterisk_does() -> None:
    rig, _seen = dial_local("Local/1001@ccbox-agents", {"IAX2/1001": Device(talk_s=3.0)})
    changes = [(m["Device"], m["State"]) for m in rig.events("DeviceStateChange")]
    assert ("Local/1001@ccbox-agents", "INUSE") in changes
    assert [s for d, s in changes if d == "IAX2/1001"] == ["RINGING", "INUSE", "UNKNOWN"]
    assert (
        changes[-1] == ("Local/1001@ccbox-agents", "NOT_INUSE")
        or (
            "Local/1001@ccbox-agents",
            "NOT_INUSE",
        )
        in changes
    )
    assert all("-" not in d.rpartition("/")[2] for d, _ in changes if d.startswith("IAX2/"))


def test_originate_of_an_iax2_phone_is_the_agi_channel_of_the_callback() -> None:
    started: list[str] = []
    rig = Rig(devices={"IAX2/1006": Device(ring_s=1.0)})
    rig.switch.agi_starter = lambda ch, script, exten: started.append(f"{ch.name} {script}")
    originate(rig, "o6", "ccbox-callback", "42", Channel="IAX2/1006")
    run(rig, 1.5)
    [new] = rig.events("Newchannel")
    assert (new["Channel"].rpartition("-")[0], new["Context"], new["Exten"]) == (
        "IAX2/1006",
        "default",
        "s",
    )
    [begin] = rig.events("DialBegin")
    assert "Channel" not in begin and begin["DialString"] == "1006"
    [response] = rig.events("OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Success", "4")
    assert started == [f"{response['Channel']} callback"]


def test_a_local_option_the_simulator_cannot_follow_is_refused() -> None:
    rig, seen = dial_local("Local/1001@ccbox-agents/m", {"IAX2/1001": Device()})
    assert seen["status"] == "CHANUNAVAIL"
    assert rig.switch.pbx.refusals == ["the simulator does not model the Local option /m"]


def test_the_leg_dial_creates_is_called_by_the_callers_extension() -> None:
    rig, _seen = dial_local("Local/1001@ccbox-agents/n", {"IAX2/1001": Device(talk_s=2.0)})
    [one] = [m for m in rig.events("Newchannel") if m["Channel"].endswith(";1")]
    caller = rig.events("Newchannel")[0]
    # app_dial's stored_clid: the dialing channel's extension and the caller's name, the
    # caller as the connected line (4008001234 / Zhang San / 13800138000 in the traces).
    assert (one["CallerIDNum"], one["CallerIDName"], one["ConnectedLineNum"]) == (
        caller["Exten"],
        caller["CallerIDName"],
        caller["CallerIDNum"],
    )
    assert caller["Exten"] != caller["CallerIDNum"]


def test_an_originated_leg_gets_its_caller_id_after_newchannel_as_in_the_trace() -> None:
    plan = parse(LOCAL_PLAN_TEXT + "[ccbox-outbound-connect]\nexten => _X!,1,Wait(5)\n")
    rig = Rig(dialplan=plan)
    originate(
        rig,
        "a8",
        "ccbox-outbound-connect",
        "5551234",
        Channel="Local/5551234@pstn-out",
        CallerID='"Campaign" <4008001234>',
    )
    run(rig, 2)
    trace = trace_messages("outbound-originate")
    seq = [
        (m.event, m.get("Channel", "")[-2:])
        for m in rig.events()
        if m.event in ("Newchannel", "NewCallerid", "NewConnectedLine", "DialBegin")
    ]
    assert seq[:7] == [
        ("Newchannel", ";1"),
        ("Newchannel", ";2"),
        ("NewCallerid", ";1"),
        ("NewConnectedLine", ";1"),
        ("NewCallerid", ";2"),
        ("NewConnectedLine", ";2"),
        ("DialBegin", ""),
    ]
    assert {m["CallerIDNum"] for m in rig.events("Newchannel")[:2]} == {"<unknown>"}
    for event in ("NewCallerid", "NewConnectedLine"):
        ours = rig.events(event)[0]
        theirs = next(m for m in trace if m.event == event)
        assert [k for k, _ in ours.headers] == [k for k, _ in theirs.headers], event
        assert (ours["CallerIDNum"], ours["CallerIDName"]) == ("4008001234", "Campaign")
    assert rig.events("DialBegin")[0]["DestCallerIDNum"] == "4008001234"


# ---- what ccbox's own AMI user may do ---------------------------------------------------------


def test_ccboxs_generated_ami_user_gets_what_a_real_box_allows_it() -> None:
    rig = Rig(perms="", devices={"PJSIP/1001": Device(ring_s=1.0)})
    rig.factory.read = _perms(MANAGER_READ)
    rig.factory.write = _perms(MANAGER_WRITE)
    rig.factory.receives = confgen.receives
    # Actions registered with classes the user does not write are denied (manager.c).
    for action in ("Command\r\nCommand: core show version", "MixMonitor\r\nChannel: x"):
        rig.send(f"Action: {action}\r\nActionID: p1")
    assert [m.as_dict() for m in rig.read() if m.response] == [
        {"Response": "Error", "ActionID": "p1", "Message": "Permission denied"}
    ] * 2
    # Events of classes it does not read never arrive (AGIExec: agi, Cdr), nor those its
    # event filters keep out: VarSet, and Newexten outside the contexts transfers land in.
    rig.switch.trunk_call("13800138000", "Zhang San", "4008001234")
    names = {m.event for m in rig.events()}
    assert "Newchannel" in names
    assert names <= set(confgen.MANAGER_EVENTS), names - set(confgen.MANAGER_EVENTS)
    rig.switch.emit([("Event", "VarSet"), ("Privilege", "dialplan,all"), ("Variable", "X")])
    for context, seen in (("ccbox-inbound", False), ("ccbox-transfer-queue", True)):
        rig.switch.emit(
            [("Event", "Newexten"), ("Privilege", "dialplan,all"), ("Context", context)]
        )
        assert any(m.event == "Newexten" for m in rig.events()) is seen, context
    rig.switch.emit([("Event", "AGIExecStart"), ("Privilege", "agi,all")])
    rig.switch.emit([("Event", "SuccessfulAuth"), ("Privilege", "security,all")])
    assert {"AGIExecStart", "SuccessfulAuth"}.isdisjoint({m.event for m in rig.events()})
    originate(rig, "p2", "ccbox-callback", "7", Channel="PJSIP/1001")
    assert as_dicts(rig.read(), "p2")[0]["Response"] == "Success"


@pytest.mark.parametrize(
    ("variable", "message"),
    [("", "No variable specified"), ("CHANNEL(state)", "dialplan function CHANNEL(state)")],
)
def test_getvar_refusals(variable: str, message: str) -> None:
    rig = Rig()
    rig.send(f"Action: Getvar\r\nActionID: g1\r\nVariable: {variable}")
    [answer] = as_dicts(rig.read(), "g1")
    assert answer["Response"] == "Error" and message in answer["Message"]


def test_a_technology_asterisk_22_lacks_is_chanunavail_with_cause_66() -> None:
    plan = parse("[old]\nexten => _X!,1,Dial(SIP/${EXTEN},30)\n same => n,Hangup()\n")
    rig = Rig(dialplan=plan, devices={"SIP/1001": Device()})
    originate(rig, "s1", "old", "1001", Channel="PJSIP/2001")
    run(rig, 2)
    assert [m for m in rig.events("Newchannel") if m["Channel"].startswith("SIP/")] == []
    [hangup] = rig.events("Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("66", "Channel not implemented")
    originate(rig, "s2", "old", "1001", Channel="SIP/1001")
    run(rig, 1)
    [failed] = [m for m in rig.events("OriginateResponse") if m.action_id == "s2"]
    assert failed["Response"] == "Failure"


def test_a_local_pair_onto_the_outside_line_moves_the_caller_as_in_the_callback_trace() -> None:
    rig = Rig(devices={"Local/5551234@ccbox-outbound": Device(ring_s=1.0, talk_s=6.0)})
    seen: dict[str, Any] = {}

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        seen["dial"] = await s.exec_("Dial", "Local/5551234@ccbox-outbound,30,T")
        seen["at"] = rig.clock.seconds() - 1795353000
        seen["up"] = await s.channel_status()
        return seen

    rig.call(CallerScript(patience_s=60), body, max_seconds=30)
    [begin] = rig.events("LocalOptimizationBegin")
    assert begin["SourceChannel"] == "DAHDI/1-1"  # the caller moved into ;2's bridge
    outside = [m["Channel"] for m in rig.events("Newchannel") if m["Channel"].startswith("DAHDI/2")]
    entered = [m for m in rig.events("BridgeEnter") if m["Channel"] == "DAHDI/1-1"]
    outside_bridge = next(
        m["BridgeUniqueid"] for m in rig.events("BridgeEnter") if m["Channel"] == outside[0]
    )
    assert entered[-1]["BridgeUniqueid"] == outside_bridge
    assert seen["dial"] == -1 and seen["up"] == 6 and seen["at"] >= 7  # until it hung up


def test_atxfer_whose_target_hangs_up_during_the_consult_returns_the_agent() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=1.0, talk_s=2.0)})
    caller, agent = bridged_pair(rig, {"t"})
    original = caller.bridge
    rig.send(
        f"Action: Atxfer\r\nActionID: c1\r\nChannel: {agent.name}\r\nExten: 1001\r\n"
        "Context: ccbox-agents"
    )
    run(rig, 10)  # consult at ~3.8 s, answered at ~4.8 s, the target hangs up at ~6.8 s
    assert agent.alive and agent.bridge is original is caller.bridge
    assert agent.transfer is None and rig.events("AttendedTransfer") == []
    assert [m["Channel"] for m in rig.events("Unhold")] == [agent.name]
    destroyed = [m["BridgeUniqueid"] for m in rig.events("BridgeDestroy")]
    assert len(destroyed) == len(set(destroyed))  # each bridge destroyed once
