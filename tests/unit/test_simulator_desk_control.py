"""The simulator's side of the desk's call control, as Asterisk 22 answers it: PlayDTMF
(app_senddtmf.c: its errors; Receive during an attended transfer: ``*3`` makes it three-way),
MuteAudio refused to ccbox's AMI user (it needs system write), Dial's t/T options in the
dialplan, and Set(CALLERID(num/name)) in ccbox-desk-dial."""

from __future__ import annotations

from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.ami.codec import Message, Parser, encode_action
from drivers.asterisk.confgen import MANAGER_WRITE
from drivers.asterisk.simulator.manager import ManagerFactory
from drivers.asterisk.simulator.switch import Device, Switch


class Ami:
    """A manager session of ccbox's own AMI user on ``switch``."""

    def __init__(self, switch: Switch, write: str = MANAGER_WRITE) -> None:
        factory = ManagerFactory(switch.clock, switch, "ccbox", "s3cret", read="all", write=write)
        self.session = factory.buildProtocol(None)
        self.transport = StringTransport()
        self.session.makeConnection(self.transport)
        self.session.username = "ccbox"
        self.parser = Parser()
        self.parser.feed(self.transport.value())
        self.transport.clear()

    def act(self, action: str, *headers: tuple[str, str]) -> Message:
        self.session.dataReceived(encode_action(action, headers, "a1"))
        [answer] = [m for m in self.parser.feed(self.transport.value()) if m.get("Response")]
        self.transport.clear()
        return answer


def desk_call(clock: Clock, **devices: Device) -> tuple[Switch, list[dict[str, str]]]:
    """Agent phone PJSIP/1001 originated into ccbox-desk-dial,5551234: answered, bridged."""
    phones = {"PJSIP/1001": Device(ring_s=0.1), "DAHDI/g0": Device(ring_s=0.1)}
    switch = Switch(clock, devices={**phones, **devices})
    events: list[dict[str, str]] = []
    switch.subscribe(lambda h: events.append(dict(h)))
    switch.originate(
        "o1",
        {"Channel": "PJSIP/1001", "Context": "ccbox-desk-dial", "Exten": "5551234"},
        {"CCBOX_DESK_CID_NUM": "4008001234", "CCBOX_DESK_CID_NAME": "Sales"},
    )
    for _ in range(5):
        clock.advance(0.1)
    return switch, events


def test_click_to_dial_sets_the_caller_id_and_gives_the_agent_the_transfer_feature() -> None:
    clock = Clock()
    switch, events = desk_call(clock)
    agent = switch.find("PJSIP/1001-00000001")
    assert agent is not None and agent.bridge is not None
    assert "t" in agent.features  # Dial(...,T): the calling side may transfer
    assert (agent.caller_num, agent.caller_name) == ("4008001234", "Sales")
    [trunk] = [e for e in events if e["Event"] == "DialBegin" and e.get("Channel")]
    assert (trunk["DestConnectedLineNum"], trunk["DestConnectedLineName"]) == (
        "4008001234",
        "Sales",
    )
    assert switch.pbx.refusals == []


def test_playdtmf_errors_and_digits_as_asterisk_answers_them() -> None:
    clock = Clock()
    switch, events = desk_call(clock)
    ami = Ami(switch)
    leg = "PJSIP/1001-00000001"
    assert ami.act("PlayDTMF", ("Channel", "PJSIP/9-1"), ("Digit", "1")).get("Message") == (
        "Channel not found"
    )
    assert ami.act("PlayDTMF", ("Channel", leg)).get("Message") == "No digit specified"
    bad = ami.act("PlayDTMF", ("Channel", leg), ("Digit", "1"), ("Duration", "x"))
    assert bad.get("Message") == "Could not convert Duration parameter"
    ok = ami.act("PlayDTMF", ("Channel", leg), ("Digit", "5"), ("Receive", "true"))
    assert (ok.get("Response"), ok.get("Message")) == ("Success", "DTMF successfully queued")
    clock.advance(0.1)
    clock.advance(0.1)
    dtmf = [
        (e["Event"], e["Channel"][:6], e["Digit"], e["Direction"])
        for e in events
        if e["Event"].startswith("DTMF")
    ]
    # read on the agent's leg, then passed on to the customer (no transfer under way)
    assert dtmf == [
        ("DTMFEnd", "PJSIP/", "5", "Received"),
        ("DTMFBegin", "DAHDI/", "5", "Sent"),
        ("DTMFEnd", "DAHDI/", "5", "Sent"),
    ]
    # ccbox's AMI user has no system write: res_mutestream's own action is refused
    mute = ami.act("MuteAudio", ("Channel", leg), ("Direction", "in"), ("State", "on"))
    assert (mute.get("Response"), mute.get("Message")) == ("Error", "Permission denied")
    root = Ami(switch, write="all")  # a user with system write may use it
    bad = root.act("MuteAudio", ("Channel", leg), ("Direction", "up"), ("State", "on"))
    assert bad.get("Message") == "Failed to mute/unmute stream"
    assert root.act("MuteAudio", ("Channel", leg), ("State", "on")).get("Message") == (
        "Direction not specified"
    )
    assert (
        root.act("MuteAudio", ("Channel", leg), ("Direction", "in"), ("State", "on")).get(
            "Response"
        )
        == "Success"
    )
    agent = switch.find(leg)
    assert agent is not None and agent.variables["MUTEAUDIO(in)"] == "on"


def test_star_three_during_a_consultation_makes_a_three_way_call() -> None:
    clock = Clock()
    switch, events = desk_call(clock)
    ami = Ami(switch)
    leg = "PJSIP/1001-00000001"
    assert (
        ami.act(
            "Atxfer", ("Channel", leg), ("Exten", "5559876"), ("Context", "ccbox-outbound")
        ).get("Response")
        == "Success"
    )
    for _ in range(50):  # the digits, the 3 s digit timeout, the consult call answered
        clock.advance(0.1)
    for digit in "*3":
        ami.act("PlayDTMF", ("Channel", leg), ("Digit", digit), ("Receive", "true"))
    [xfer] = [e for e in events if e["Event"] == "AttendedTransfer"]
    assert (xfer["Result"], xfer["DestType"]) == ("Success", "Threeway")
    agent = switch.find(leg)
    assert agent is not None and agent.bridge is not None and len(agent.bridge.members) == 3
    customer = next(m for m in agent.bridge.members if m.name.startswith("DAHDI/"))
    switch.hangup(agent, 16)  # the agent leaves: the two others talk on
    assert customer.alive and customer.bridge is not None and len(customer.bridge.members) == 2


def test_dial_options_other_than_t_are_refused_by_name() -> None:
    clock = Clock()
    switch = Switch(clock)
    ch = switch.new_channel("Local/x@y-00000001;2", state=6, context="c", exten="1")
    try:
        switch.dial_from_dialplan(ch, "PJSIP/1001,30,m")
    except Exception as exc:  # pbx.Unsupported: the channel is refused loudly
        assert "options other than t and T" in str(exc)
    else:
        raise AssertionError("Dial(...,m) was run")


def test_an_originate_variable_that_writes_a_function_is_one_assignment() -> None:
    """PJSIP_HEADER(add,Call-Info)=... (an auto-answering phone): the comma inside the
    parentheses does not split it, as Asterisk's argument parser keeps it whole."""
    clock = Clock()
    switch = Switch(clock, devices={"PJSIP/1001": Device(ring_s=0.1)})
    ami = Ami(switch)
    answer = ami.act(
        "Originate",
        ("Channel", "PJSIP/1001"),
        ("Context", "ccbox-desk-hold"),
        ("Exten", "0"),
        ("Priority", "1"),
        ("Async", "true"),
        ("Variable", "PJSIP_HEADER(add,Call-Info)=<sip:ccbox>;answer-after=0"),
        ("Variable", "A=1,B=2"),
    )
    assert answer.get("Response") == "Success"
    clock.advance(0.2)
    ch = switch.find("PJSIP/1001-00000001")
    assert ch is not None
    assert ch.variables["PJSIP_HEADER(add,Call-Info)"] == "<sip:ccbox>;answer-after=0"
    assert (ch.variables["A"], ch.variables["B"]) == ("1", "2")


def test_the_caller_gone_on_hold_then_the_hold_leg_gone_ends_the_agents_leg() -> None:
    """As Asterisk 22 did (tests/asterisk/test_desk_control.py): the held party hangs up,
    the agent stays with the hold leg; once that hangs up the agent's leg ends too."""
    clock = Clock()
    switch, events = desk_call(clock)
    ami = Ami(switch)
    leg = "PJSIP/1001-00000001"
    ami.act("Atxfer", ("Channel", leg), ("Exten", "0"), ("Context", "ccbox-desk-hold"))
    for _ in range(40):
        clock.advance(0.1)
    agent = switch.find(leg)
    hold = next(
        e["Channel"]
        for e in events
        if e["Event"] == "Newchannel" and "ccbox-desk-hold" in e["Channel"]
    )
    customer = next(
        e["DestChannel"] for e in events if e["Event"] == "DialBegin" and e.get("Channel")
    )
    gone = switch.find(customer)
    assert agent is not None and gone is not None and agent.bridge is not None
    switch.hangup(gone, 16)  # the customer hangs up on hold
    assert agent.alive  # still with the hold leg
    assert ami.act("Hangup", ("Channel", hold)).get("Response") == "Success"
    assert not agent.alive
    assert switch.pbx.refusals == []
