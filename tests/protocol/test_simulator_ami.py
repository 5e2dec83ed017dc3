"""The simulator's manager speaks as the Asterisk in the traces, header for header."""

from __future__ import annotations

from typing import Any

import pytest

from drivers.asterisk.agi.session import AGISessionProtocol, DeadChannel
from drivers.asterisk.ami.codec import ActionTooLarge, Message, encode_action
from drivers.asterisk.callmodel import CallAnswered, CallEnded, CallModel, CallStarted
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.manager_input import LINE_TOO_LONG, ManagerInput
from drivers.asterisk.simulator.switch import Device
from tests.support.ami_limits import ACTIONS, ANSWERS
from tests.support.sim_rig import Rig, trace_messages

# Values that differ from run to run (clocks, ids, addresses, the build string).
VOLATILE = {
    "timestamp",
    "eventtv",
    "sessiontv",
    "sessionid",
    "localaddress",
    "remoteaddress",
    "uptime",
    "lastreload",
    "output",
}


def masked(msg: Message) -> list[tuple[str, str]]:
    return [(k, "*" if k.lower() in VOLATILE else v) for k, v in msg.headers]


def keys(msg: Message) -> list[str]:
    return [k for k, _ in msg.headers]


def first_in_traces(event: str, where: Any = None) -> Message:
    for name in (
        "inbound-ivr-to-agent",
        "noanswer-busy-voicemail",
        "caller-abandons-on-hold",
        "bridged-call-and-spy",
        "originate-noanswer",
        "outbound-originate",
        "agi-errors",
        "app-queue-reference",
    ):
        for m in trace_messages(name):
            if m.event == event and (where is None or where(m)):
                return m
    raise AssertionError(f"no {event} in the traces")


# ---- sessions ---------------------------------------------------------------------------------


def test_login_and_basic_actions_answer_as_in_the_trace() -> None:
    rig = Rig(login=False)
    assert rig.transport.value() == b"Asterisk Call Manager/11.0.0\r\n"
    assert rig.read() == [] and rig.parser.banner == "Asterisk Call Manager/11.0.0"
    for action in trace_messages("ami-login-and-basics", ">"):
        if action.get("Action") == "QueueStatus":
            continue  # the lab ran app_queue; ccbox routes calls itself (no queues here)
        rig.send("\r\n".join(f"{k}: {v}" for k, v in action.headers))
    ours = [masked(m) for m in rig.read()]
    theirs = [
        masked(m)
        for m in trace_messages("ami-login-and-basics")
        if m.action_id != "a6"  # QueueStatus
    ]
    assert ours == theirs


def test_wrong_secret_is_refused_a_second_later_and_the_socket_closes() -> None:
    rig = Rig(login=False)
    rig.read()
    for action in trace_messages("ami-login-failure", ">"):
        rig.send("\r\n".join(f"{k}: {v}" for k, v in action.headers))
    rig.send("Action: Ping\r\nActionID: a2")  # ignored: the session is being refused
    assert rig.read() == []
    rig.clock.advance(0.9)
    assert rig.read() == []
    rig.clock.advance(0.2)
    assert [masked(m) for m in rig.read()] == [
        masked(m) for m in trace_messages("ami-login-failure")
    ]
    assert rig.transport.disconnecting


def test_actions_before_login_are_denied() -> None:
    rig = Rig(login=False)
    rig.send("Action: CoreShowChannels\r\nActionID: x1")
    rig.send("Action: Originate\r\nActionID: x2\r\nChannel: PJSIP/1001")
    assert [m.as_dict() for m in rig.read()] == [
        {"Response": "Error", "ActionID": "x1", "Message": "Permission denied"},
        {"Response": "Error", "ActionID": "x2", "Message": "Permission denied"},
    ]
    assert rig.switch.channels == {}


def test_logoff_as_in_the_trace() -> None:
    rig = Rig()
    rig.send("Action: Logoff\r\nActionID: a22")
    assert [masked(m) for m in rig.read()] == [masked(m) for m in trace_messages("ami-logoff")]
    assert rig.transport.disconnecting


def test_events_off_silences_the_session() -> None:
    rig = Rig()
    rig.send("Action: Events\r\nActionID: e1\r\nEventMask: off")
    assert rig.read()[0].as_dict() == {"Response": "Success", "ActionID": "e1", "Events": "Off"}
    rig.switch.trunk_call("13800138000", "Zhang San", "4008001234")
    assert rig.read() == []


# ---- an inbound call --------------------------------------------------------------------------


async def menu_then_agent(s: AGISessionProtocol) -> dict[str, Any]:
    """The inbound-ivr-to-agent scenario, as ccboxd would run it."""
    await s.answer()
    menu = await s.stream_file("demo-congrats", "0123456789*#")
    data = await s.get_data("beep", 6000, 4)
    await s.exec_("MixMonitor", "/var/spool/ccbox/recordings/x.wav,b")
    dial = await s.exec_("Dial", "PJSIP/1001,15")
    status = await s.get_variable("DIALSTATUS")
    return {"menu": menu.digit, "data": data.digits, "dial": dial, "status": status}


def test_an_inbound_call_emits_the_trace_events_with_the_trace_headers() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=1.0)})
    seen, caller = rig.call(CallerScript(digits="11234", patience_s=30.0), menu_then_agent)
    assert seen == {"menu": "1", "data": "1234", "dial": -1, "status": "ANSWER"}
    assert caller.outcome.caller_hung_up

    names = [m.event for m in rig.events()]
    lifecycle = [
        n
        for n in names
        if n in {"Newchannel", "DialBegin", "DialEnd", "BridgeEnter", "Hangup", "MixMonitorStart"}
    ]
    assert lifecycle == [
        "Newchannel",  # the trunk channel
        "MixMonitorStart",
        "Newchannel",  # the agent's phone
        "DialBegin",
        "DialEnd",
        "BridgeEnter",
        "BridgeEnter",
        "Hangup",  # the caller hangs up (patience)...
        "Hangup",  # ...and the agent's leg with it
    ]
    assert names.count("DTMFBegin") == names.count("DTMFEnd") == 5  # 1, then 1234

    # Every event carries the headers the real Asterisk sent, in its order.
    checks = {
        "Newchannel": None,
        "Newstate": None,
        "DTMFBegin": None,
        "DTMFEnd": None,
        "MixMonitorStart": None,
        "DialBegin": lambda m: "Channel" in m,  # a Dial from a channel, not an Originate
        "DialEnd": lambda m: "Channel" in m,
        "BridgeCreate": None,
        "BridgeEnter": None,
        "BridgeLeave": None,
        "BridgeDestroy": None,
        "HangupRequest": None,
        "Hangup": None,
    }
    for event, where in checks.items():
        ours = [m for m in rig.events(event)]
        assert ours, f"the simulator sent no {event}"
        theirs = first_in_traces(event, where)
        for m in ours:
            assert keys(m) == keys(theirs), event
            assert m["Privilege"] == theirs["Privilege"]

    trunk = rig.events("Newchannel")[0]
    assert trunk["Channel"] == "DAHDI/1-1" and trunk["ChannelStateDesc"] == "Ring"
    dial_end = rig.events("DialEnd")[0]
    assert dial_end["DialStatus"] == "ANSWER" and dial_end["DestChannel"].startswith("PJSIP/1001-")
    assert {m["Cause"] for m in rig.events("Hangup")} == {"16"}
    assert {m["Cause-txt"] for m in rig.events("Hangup")} == {"Normal Clearing"}
    assert rig.switch.channels == {}


def test_the_call_model_follows_a_simulated_call() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=2.0, talk_s=20.0)})
    published: list[object] = []
    model = CallModel(rig.clock.seconds, published.append)
    rig.switch.subscribe(lambda headers: model.handle(Message(tuple(headers))))

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        dial = await s.exec_("Dial", "PJSIP/1001,15")
        status = await s.get_variable("DIALSTATUS")
        await s.hangup()
        return dial, status

    seen, caller = rig.call(CallerScript(caller_name='O\'Brien "Bob"'), body)
    assert seen == (-1, "ANSWER")  # the agent hung up first, no g: -1 (dial-agent-hangs-up)
    assert caller.outcome.script_hung_up
    started = [e for e in published if isinstance(e, CallStarted)]
    answered = [e for e in published if isinstance(e, CallAnswered)]
    ended = [e for e in published if isinstance(e, CallEnded)]
    assert len(started) == 1 and started[0].caller_name == 'O\'Brien "Bob"'  # escaped, unescaped
    assert len(answered) == 1 and len(ended) == 1
    assert ended[0].linkedid == started[0].linkedid
    assert ended[0].ended_at - ended[0].started_at == pytest.approx(22.0, abs=0.3)
    assert ended[0].cause == 16 and ended[0].channels == 2
    assert model.summary()["calls"] == 0


@pytest.mark.parametrize(
    ("device", "status", "cause"),
    [(Device(answers=False), "NOANSWER", "0"), (Device(busy=True), "BUSY", "17")],
)
def test_dial_outcomes_as_in_the_noanswer_busy_trace(
    device: Device, status: str, cause: str
) -> None:
    rig = Rig(devices={"PJSIP/1002": device})

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        dial = await s.exec_("Dial", "PJSIP/1002,3")
        return dial, await s.get_variable("DIALSTATUS")

    seen, _ = rig.call(CallerScript(patience_s=10), body)
    assert seen == (0, status)
    assert rig.events("DialEnd")[0]["DialStatus"] == status
    agent_hangup = [m for m in rig.events("Hangup") if m["Channel"].startswith("PJSIP/1002")]
    assert [m["Cause"] for m in agent_hangup] == [cause]


def test_ring_all_dial_takes_the_first_answer_and_cancels_the_rest() -> None:
    rig = Rig(
        devices={
            "PJSIP/1001": Device(ring_s=3.0),
            "PJSIP/1002": Device(ring_s=1.0, talk_s=5.0),
            "PJSIP/1003": Device(answers=False),
        }
    )

    async def body(s: AGISessionProtocol) -> Any:
        dial = await s.exec_("Dial", "PJSIP/1001&PJSIP/1002&PJSIP/1003,20")
        peer = await s.get_variable("DIALEDPEERNAME")
        await s.hangup()
        return dial, peer

    (result, peer), _ = rig.call(CallerScript(), body)
    assert result == -1 and peer.startswith("PJSIP/1002-")  # 1002 hung up first, no g
    ends = {m["DestChannel"].split("-")[0]: m["DialStatus"] for m in rig.events("DialEnd")}
    assert ends == {"PJSIP/1001": "CANCEL", "PJSIP/1002": "ANSWER", "PJSIP/1003": "CANCEL"}


def test_caller_hanging_up_while_ringing_cancels_the_dial() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=10.0)})

    async def body(s: AGISessionProtocol) -> Any:
        dial = await s.exec_("Dial", "PJSIP/1001,20")
        try:
            await s.stream_file("x")
        except DeadChannel:
            return dial, await s.get_variable("DIALSTATUS")
        return None

    seen, _ = rig.call(CallerScript(patience_s=2.0), body)
    assert seen == (-1, "CANCEL")  # Dial(-1), then 511; DIALSTATUS readable after hangup
    assert rig.events("DialEnd")[0]["DialStatus"] == "CANCEL"
    assert rig.switch.channels == {}


# ---- actions on live calls --------------------------------------------------------------------


def test_redirect_of_a_bridged_caller_ends_the_agi_as_in_the_trace() -> None:
    rig = Rig(devices={"PJSIP/1004": Device(ring_s=1.0), "PJSIP/1001": Device(ring_s=1.0)})
    script = CallerScript(patience_s=60)
    seen: dict[str, Any] = {}

    async def body(s: AGISessionProtocol) -> Any:
        dial = await s.exec_("Dial", "PJSIP/1004,15")
        seen["dial"] = dial
        seen["status"] = await s.get_variable("DIALSTATUS")
        seen["hung_up"] = s.hung_up
        return seen

    def redirect_later() -> None:
        caller = rig.switch.find("DAHDI/1-1")
        assert caller is not None and caller.bridge is not None
        rig.send(
            "Action: Redirect\r\nActionID: a19\r\nChannel: DAHDI/1-1\r\n"
            "Context: ccbox-agents\r\nExten: 1001\r\nPriority: 1"
        )

    rig.clock.callLater(5, redirect_later)
    rig.call(script, body, max_seconds=10)
    expected = [m for m in trace_messages("bridged-call-and-spy") if m.action_id == "a19"]
    assert [masked(m) for m in rig.messages if m.action_id == "a19"] == [
        masked(m) for m in expected
    ]
    assert seen == {"dial": 0, "status": "ANSWER", "hung_up": True}
    # The caller went on to 1001: a new dial from the same channel, answered and bridged.
    rig.clock.advance(2)
    caller = rig.switch.find("DAHDI/1-1")
    assert caller is not None and caller.bridge is not None
    assert {m.name.split("-")[0] for m in caller.bridge.members} == {"DAHDI/1", "PJSIP/1001"}


def test_ami_hangup_of_a_channel_in_agi() -> None:
    rig = Rig()
    seen: dict[str, Any] = {}

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        await s.set_music(True)
        try:
            while True:
                await s.wait_for_digit(2000)
        except DeadChannel:
            seen["dead"] = True
        return seen

    rig.clock.callLater(3, rig.send, "Action: Hangup\r\nActionID: h1\r\nChannel: DAHDI/1-1")
    rig.call(CallerScript(), body)
    assert seen == {"dead": True}
    assert [m.as_dict() for m in rig.messages if m.action_id == "h1"] == [
        {"Response": "Success", "ActionID": "h1", "Message": "Channel Hungup"}
    ]
    # No Cause in the Hangup action: manager.c leaves HANGUPCAUSE as it was (0 here), and
    # the Hangup event comes when the script has closed (agi_caller.hangup_requested).
    assert [m["Cause"] for m in rig.events("Hangup")] == ["0"]
    assert keys(rig.events("MusicOnHoldStart")[0]) == keys(first_in_traces("MusicOnHoldStart"))


def test_originate_answered_and_unanswered_as_in_the_traces() -> None:
    rig = Rig(devices={"PJSIP/1002": Device(answers=False), "PJSIP/1004": Device(ring_s=1.0)})
    rig.send(
        "Action: Originate\r\nActionID: a15\r\nChannel: PJSIP/1002\r\nContext: ccbox-supervise\r\n"
        "Exten: listen\r\nPriority: 1\r\nAsync: true\r\nTimeout: 3000\r\nChannelId: ccbox-o1"
    )
    rig.send(
        "Action: Originate\r\nActionID: a16\r\nChannel: PJSIP/1004\r\nContext: ccbox-callback\r\n"
        "Exten: 100\r\nPriority: 1\r\nAsync: true\r\nTimeout: 30000\r\n"
        'CallerID: "Campaign" <4008001234>\r\n'
        "ChannelId: ccbox-o2\r\nVariable: A=1\r\nVariable: B=2"
    )
    queued = [m.as_dict() for m in rig.read() if m.response]
    assert queued == [
        {"Response": "Success", "ActionID": a, "Message": "Originate successfully queued"}
        for a in ("a15", "a16")
    ]
    rig.clock.advance(3.5)
    responses = {m.action_id: m for m in rig.events("OriginateResponse")}
    failed, ok = responses["a15"], responses["a16"]
    trace_failed = first_in_traces("OriginateResponse", lambda m: m["Response"] == "Failure")
    trace_ok = first_in_traces("OriginateResponse", lambda m: m["Response"] == "Success")
    assert keys(failed) == keys(trace_failed) and keys(ok) == keys(trace_ok)
    assert (failed["Reason"], failed["Uniqueid"]) == ("3", "<unknown>")
    assert (ok["Reason"], ok["Uniqueid"], ok["CallerIDName"]) == ("4", "ccbox-o2", "Campaign")
    ch = rig.switch.find("ccbox-o2")
    assert ch is not None and ch.variables == {"A": "1", "B": "2"}
    dial_begins = rig.events("DialBegin")
    assert all("Channel" not in m for m in dial_begins)  # from Originate: no caller snapshot


def test_supervisor_originate_runs_chanspy_on_the_target() -> None:
    rig = Rig(devices={"PJSIP/1004": Device(ring_s=1.0), "PJSIP/2001": Device(ring_s=1.0)})

    async def body(s: AGISessionProtocol) -> Any:
        await s.exec_("Dial", "PJSIP/1004,15")
        return True

    def spy() -> None:
        agent = next(c for c in rig.switch.channels.values() if c.name.startswith("PJSIP/1004"))
        rig.send(
            "Action: Originate\r\nActionID: s1\r\nChannel: PJSIP/2001\r\n"
            "Context: ccbox-supervise\r\nExten: whisper\r\nPriority: 1\r\nAsync: true\r\n"
            f"Timeout: 30000\r\nVariable: CCBOX_SPY_TARGET={agent.name}"
        )

    rig.clock.callLater(3, spy)
    rig.call(CallerScript(patience_s=10), body)
    start, stop = rig.events("ChanSpyStart"), rig.events("ChanSpyStop")
    assert len(start) == 1 and len(stop) == 1
    assert keys(start[0]) == keys(first_in_traces("ChanSpyStart"))
    assert start[0]["SpyeeChannel"].startswith("PJSIP/1004-")
    assert start[0]["SpyerChannel"].startswith("PJSIP/2001-")
    assert rig.switch.channels == {}  # the spy ended with its target


def test_core_show_channels_lists_live_channels_like_the_trace() -> None:
    rig = Rig(devices={"PJSIP/1001": Device(ring_s=1.0)})

    async def body(s: AGISessionProtocol) -> Any:
        await s.answer()
        await s.exec_("Dial", "PJSIP/1001,15")
        return True

    def ask() -> None:
        rig.send("Action: CoreShowChannels\r\nActionID: c1")

    rig.clock.callLater(4, ask)
    rig.call(CallerScript(patience_s=6), body)
    listed = [m for m in rig.messages if m.action_id == "c1"]
    assert listed[0].as_dict() == {
        "Response": "Success",
        "ActionID": "c1",
        "EventList": "start",
        "Message": "Channels will follow",
    }
    items = [m for m in listed if m.event == "CoreShowChannel"]
    assert {m["Channel"].split("-")[0] for m in items} == {"DAHDI/1", "PJSIP/1001"}
    assert all(keys(m) == keys(first_in_traces("CoreShowChannel")) for m in items)
    assert items[0]["BridgeId"] == items[1]["BridgeId"] != ""
    assert listed[-1].as_dict() == {
        "Event": "CoreShowChannelsComplete",
        "ActionID": "c1",
        "EventList": "Complete",
        "ListItems": "2",
    }


def test_hostile_caller_names_are_escaped_on_the_wire() -> None:
    rig = Rig()
    ch = rig.switch.trunk_call("13800138000", 'x\r\nEvent: Hangup\r\n"<img>', "4008001234")
    [msg] = rig.events("Newchannel")
    assert msg["CallerIDName"] == 'x\\r\\nEvent: Hangup\\r\\n\\"<img>'
    assert rig.events("Hangup") == []
    assert ch.caller_name.startswith("x\r\n")


def test_actions_past_asterisks_line_and_header_limits_are_refused_as_asterisk_does() -> None:
    """What Asterisk 22.10.1 answered (tests/asterisk/test_ami_limits.py asks it again)."""
    rig = Rig()
    rig.read()
    for action in ACTIONS:
        rig.send(action)
    got = [(m.get("ActionID"), m.get("Response"), m.get("Message")) for m in rig.read()]
    assert got == ANSWERS


def test_the_largest_action_ccbox_writes_is_run_and_one_byte_more_never_leaves() -> None:
    rig = Rig()
    rig.read()
    headers = [(f"X{i}", "y") for i in range(125)]
    value = "x" * (1024 - len("Variable: \r\n"))
    rig.ami.dataReceived(encode_action("Ping", [*headers, ("Variable", value)], "big"))
    [answer] = rig.read()
    assert answer.get("ActionID") == "big" and answer.get("Response") == "Success"
    with pytest.raises(ActionTooLarge):
        encode_action("Ping", [*headers, ("Variable", value + "x")], "big")
    with pytest.raises(ActionTooLarge):
        encode_action("Ping", [*headers, ("X125", "y"), ("Variable", "v")], "big")


def test_an_endless_line_keeps_the_managers_memory_flat_and_is_refused_at_its_end() -> None:
    reader = ManagerInput()
    assert list(reader.feed(b"Action: Ping\r\nActionID: e1\r\nVariable: ")) == []
    for _ in range(160):  # 10 MB without a line end
        assert list(reader.feed(b"x" * 65536)) == []
        assert len(reader._buf) < 1024
    [request] = reader.feed(b"\r\n\r\n")
    assert request.refused == LINE_TOO_LONG and request.message.get("ActionID") == "e1"
