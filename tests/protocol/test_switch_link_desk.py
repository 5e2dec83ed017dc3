"""The switch operations of the desk's call control (acd/switch_link.py), fed the events
Asterisk 22.10.1 sent in tests/asterisk/test_desk_control.py: hold as an Atxfer to
0@ccbox-desk-hold ended by hanging its leg up; a consultation turned three-way by *3."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from drivers.asterisk.ami.codec import Message
from tests.protocol.test_switch_link_replay import outcome, replay, rig

AGENT = "IAX2/1001-15933"


def event(name: str, **headers: str) -> Message:
    return Message((("Event", name), *headers.items()))


def started(switch: Any, context: str, exten: str, consult: str) -> defer.Deferred[bool]:
    box = outcome(defer.ensureDeferred(switch.atxfer(AGENT, context, exten)))
    assert box == []  # queued: the consult call does not exist yet
    switch.handle(event("Newchannel", Channel=consult, Uniqueid="9.1"))
    [done] = box
    assert isinstance(done, defer.Deferred)
    return done


def test_hold_is_an_atxfer_to_the_hold_leg_and_resume_hangs_it_up() -> None:
    _clock, ami, switch, _model = rig()
    leg = "Local/0@ccbox-desk-hold-00000001;1"
    done = started(switch, "ccbox-desk-hold", "0", leg)
    assert ami.sent[0] == (
        "Atxfer",
        [("Channel", AGENT), ("Exten", "0"), ("Context", "ccbox-desk-hold")],
    )
    assert switch.consult_channel(AGENT) == leg
    assert switch.consult_channel("IAX2/1002-1") is None
    switch.handle(event("Hangup", Channel=leg, Uniqueid="9.1", Cause="16"))
    assert outcome(done) == [False]  # no transfer: Asterisk rebridged the agent
    assert switch.consult_channel(AGENT) is None


def test_a_three_way_call_ends_the_consult_but_not_the_call() -> None:
    _clock, ami, switch, _model = rig()
    one = "Local/1002@ccbox-agents-00000002;1"
    done = started(switch, "ccbox-agents", "1002", one)
    defer.ensureDeferred(switch.press(AGENT, "*3"))
    assert ami.sent[1:] == [
        ("PlayDTMF", [("Channel", AGENT), ("Digit", "*"), ("Receive", "true")]),
        ("PlayDTMF", [("Channel", AGENT), ("Digit", "3"), ("Receive", "true")]),
    ]
    switch.handle(
        event(
            "AttendedTransfer",
            Result="Success",
            DestType="Threeway",
            OrigTransfererChannel=AGENT,
            TransferTargetChannel=one,
        )
    )
    assert switch.in_threeway(AGENT) and switch.consult_channel(AGENT) is None
    switch.handle(event("Hangup", Channel=one, Uniqueid="9.1", Cause="16"))  # optimized away
    assert not done.called
    switch.handle(event("Hangup", Channel=AGENT, Uniqueid="1.5", Cause="16"))
    assert outcome(done) == [True]  # the agent left: the caller stays with 1002
    assert not switch.in_threeway(AGENT)


def test_mute_and_click_to_dial_actions() -> None:
    _clock, ami, switch, _model = rig()
    defer.ensureDeferred(switch.mute(AGENT, True))
    d = defer.ensureDeferred(
        switch.desk_dial(
            "IAX2/1001", "+8613800138000", ('Sa"les, $(x)', "4008001234"), ("", "+8613800138000")
        )
    )
    [channel_id] = outcome(d)
    assert ami.sent[0] == (
        "Setvar",
        [("Channel", AGENT), ("Variable", "MUTEAUDIO(in)"), ("Value", "on")],
    )
    name, headers = ami.sent[1]
    h = dict(headers)
    assert name == "Originate"
    assert (h["Channel"], h["Context"], h["Exten"]) == (
        "IAX2/1001",
        "ccbox-desk-dial",
        "+8613800138000",
    )
    assert h["ChannelId"] == channel_id and h["CallerID"] == '"" <+8613800138000>'
    variables = [v for k, v in headers if k == "Variable"]
    assert variables == ["CCBOX_DESK_CID_NUM=4008001234", "CCBOX_DESK_CID_NAME=Sales x"]
    defer.ensureDeferred(
        switch.desk_dial("PJSIP/1001", "5551234", ("", ""), ("", "5551234"), auto_answer=True)
    )
    defer.ensureDeferred(
        switch.desk_dial("IAX2/1001", "5551234", ("", ""), ("", "5551234"), auto_answer=True)
    )
    pjsip, iax2 = ([v for k, v in headers if k == "Variable"] for _, headers in ami.sent[2:4])
    assert pjsip[2:] == [  # fixed values: the phone's SIP headers, set before it is called
        "PJSIP_HEADER(add,Call-Info)=<sip:ccbox>;answer-after=0",
        "PJSIP_HEADER(add,Alert-Info)=<http://ccbox/>;info=alert-autoanswer;delay=0",
    ]
    assert not any("PJSIP_HEADER" in v for v in iax2)  # not a PJSIP phone: none


def test_who_is_bridged_with_the_agent_follows_the_bridges() -> None:
    """atxfer-and-mixmonitor-mute: agent IAX2/1004-1527 talks with the caller, then (the
    Atxfer) waits in the consult bridge with the Local ;1 it dialed: what the desk reads to
    know who is on hold, and a hold leg left from before a restart."""
    clock, ami, switch, model = rig()
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=6.0)
    assert switch.bridged_with("IAX2/1004-1527") == ["Local/wait60@trace-sim-00000075;1"]
    replay("atxfer-and-mixmonitor-mute", clock, ami, model, until=12.0)
    [consult] = switch.bridged_with("IAX2/1004-1527")
    assert consult.startswith("Local/1001@ccbox-agents-") and consult.endswith(";1")
    assert switch.bridged_with("IAX2/9999-1") == []
