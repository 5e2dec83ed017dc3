"""A stopping ccboxd's calls (appliance/shutdown.py): the FastAGI port closes, calls in
progress get the grace, then a caller still waiting is handed back to the dialplan
(CCBOX_HANDOFF=1 cuts its playback, the socket closes) and a bridged one is left to the
switch. Driven by a clock: no real time passes."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from appliance.shutdown import GracefulStop, StopReport
from drivers.asterisk.agi.server import FastAGIServer
from drivers.asterisk.agi.session import (
    AGIConnectionLost,
    AGIError,
    AGISessionProtocol,
    Interrupted,
)
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.switch import Switch
from tests.support.sim_sounds import sounds_for_tests

HEADER = (
    b"agi_network: yes\nagi_network_script: {script}\nagi_channel: DAHDI/{n}-1\n"
    b"agi_uniqueid: 1795353435.{n}\nagi_callerid: 1380013800{n}\nagi_arg_1: 4008001234\n\n"
)
MARK = b'SET VARIABLE CCBOX_AGI "1"\n'
HANDOFF = b'SET VARIABLE CCBOX_HANDOFF "1"\n'


class Box:
    """A FastAGI server on a memory reactor, with sessions over string transports."""

    def __init__(self) -> None:
        self.clock = MemoryReactorClock()
        self.seen: dict[str, list[Any]] = {}

        async def hold(s: AGISessionProtocol) -> None:
            try:
                await s.stream_file("ccbox-queue-wait")
            except AGIError as exc:
                self.seen.setdefault("hold", []).append(exc)
            try:
                await s.stream_file("ccbox-queue-wait")  # what the route tries next
            except AGIError as exc:
                self.seen.setdefault("hold", []).append(exc)

        async def talk(s: AGISessionProtocol) -> None:
            try:
                await s.exec_("Dial", "PJSIP/1001,20,t")
            except AGIError as exc:
                self.seen.setdefault("talk", []).append(exc)

        async def quiet(s: AGISessionProtocol) -> None:
            try:
                await s.wait_for_digit(1000)  # a menu's wait for a key
            except AGIError as exc:
                self.seen.setdefault("quiet", []).append(exc)
                await s.stream_file("ccbox-queue-wait")  # what the route tries next: refused

        async def short(s: AGISessionProtocol) -> None:
            await s.stream_file("ccbox-welcome")
            await s.hangup()

        self.server = FastAGIServer(
            self.clock, "127.0.0.1", 0, {"hold": hold, "talk": talk, "short": short, "quiet": quiet}
        )
        self.server.startService()
        self.wires: dict[str, StringTransport] = {}
        self.sessions: dict[str, AGISessionProtocol] = {}

    def call(self, script: str, n: int) -> AGISessionProtocol:
        proto = self.server.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000 + n))
        assert proto is not None
        wire = StringTransport()
        proto.makeConnection(wire)
        proto.dataReceived(HEADER.replace(b"{script}", script.encode()).replace(b"{n}", b"%d" % n))
        assert wire.value() == MARK
        proto.dataReceived(b"200 result=1\n")
        self.wires[script], self.sessions[script] = wire, proto
        return proto

    def sent(self, script: str) -> bytes:
        wire = self.wires[script]
        out = wire.value()
        wire.clear()
        return out

    def closed(self, script: str) -> None:
        """Asterisk closes its end once the script has (HANGUP line, then the socket)."""
        assert self.wires[script].disconnecting
        self.sessions[script].connectionLost(None)


def test_the_waiting_caller_is_handed_off_and_the_bridged_one_left_running() -> None:
    box = Box()
    box.call("hold", 1)
    box.call("talk", 2)
    box.call("short", 3)
    assert box.sent("hold") == MARK + b'STREAM FILE ccbox-queue-wait ""\n'
    assert box.sent("talk") == MARK + b'EXEC Dial "PJSIP/1001,20,t"\n'
    box.sent("short")
    stop = defer.ensureDeferred(GracefulStop(box.clock, box.server, grace_s=20).run())
    assert box.clock.tcpServers[0][1] is box.server.factory
    assert box.server.port is None  # not listening: new calls go to the dialplan's fallback
    assert {s.handoff_due for s in box.sessions.values()} == {20.0}

    box.sessions["short"].dataReceived(b"200 result=0 endpos=8000\n")  # ends in the grace
    box.sessions["short"].dataReceived(b"200 result=1\n")
    box.closed("short")
    box.clock.advance(19.9)
    assert box.sent("hold") == b"" and not stop.called  # the grace runs to its end

    box.clock.advance(0.1)
    # The announcement is cut by the interrupt marker, then the hand-off mark goes out...
    assert box.sent("hold") == b"GET FULL VARIABLE ccbox-sync-1\n"
    assert [type(e) for e in box.seen["hold"]] == [Interrupted]
    assert box.sent("talk") == b""  # nothing reaches a Dial: it is not handed off
    box.sessions["hold"].dataReceived(b"200 result=1 (ccbox-sync-1)\n")
    assert box.sent("hold") == HANDOFF  # the route's next playback never goes out
    # ...and once Asterisk has it, the socket closes: AGI() returns into the dialplan.
    box.sessions["hold"].dataReceived(b"200 result=1\n")
    assert box.sent("hold") == b""
    assert [type(e) for e in box.seen["hold"]] == [Interrupted, AGIConnectionLost]
    box.closed("hold")
    assert box.sessions["hold"].handed_off and not box.sessions["hold"].left_running

    box.clock.advance(2.0)  # the bridged Dial did not come back: left to the switch
    assert box.wires["talk"].disconnecting
    assert box.sessions["talk"].left_running and not box.sessions["talk"].handed_off
    box.closed("talk")
    assert [type(e) for e in box.seen["talk"]] == [AGIConnectionLost]
    assert stop.called
    assert stop.result == StopReport(in_progress=3, ended=1, handed_off=1, left_running=1)


def test_calls_all_bridged_need_no_grace() -> None:
    """A bridged call is left to the switch whatever the grace: with only such calls (the
    ACD saw their answer) the stop does not wait; with one caller waiting it does."""
    box = Box()
    box.call("talk", 1)
    bridged = defer.ensureDeferred(
        GracefulStop(box.clock, box.server, grace_s=20, bridged=lambda s: True).run()
    )
    box.clock.advance(0.5)  # the first look
    assert box.sessions["talk"].left_running
    box.closed("talk")
    assert bridged.called
    assert bridged.result == StopReport(in_progress=1, left_running=1)

    box = Box()
    box.call("talk", 1)
    box.call("hold", 2)
    talk = box.sessions["talk"]
    waiting = defer.ensureDeferred(
        GracefulStop(box.clock, box.server, grace_s=20, bridged=lambda s: s is talk).run()
    )
    box.clock.advance(19.5)
    assert not waiting.called and not talk.left_running


def test_no_call_in_progress_stops_at_once() -> None:
    box = Box()
    stop = defer.ensureDeferred(GracefulStop(box.clock, box.server, grace_s=20).run())
    assert stop.called and stop.result == StopReport()


def test_a_hand_off_cuts_a_wait_for_a_key() -> None:
    """WAIT FOR DIGIT (a menu's wait for a key, or the switch's music in slices) is cut by
    the marker (res_agi.c: ast_waitfordigit_full watches the socket and answers 1), whose
    echo ends its stale reply; anything the route asks meanwhile is refused, so the mark
    is the session's last command."""
    box = Box()
    proto = box.call("quiet", 1)
    assert box.sent("quiet") == MARK + b"WAIT FOR DIGIT 1000\n"
    done = proto.hand_off()
    assert box.sent("quiet") == b"GET FULL VARIABLE ccbox-sync-1\n"
    # the route's next playback is refused
    assert [type(e) for e in box.seen["quiet"]] == [Interrupted]
    proto.dataReceived(b"200 result=1\n")  # the wait, cut: stale
    assert box.sent("quiet") == b""
    proto.dataReceived(b"200 result=1 (ccbox-sync-1)\n")
    assert box.sent("quiet") == HANDOFF
    proto.dataReceived(b"200 result=1\n")
    box.closed("quiet")
    assert done.called and proto.handed_off


def test_a_hand_off_is_refused_during_a_dial() -> None:
    box = Box()
    proto = box.call("talk", 1)
    assert proto.in_switch
    refused: list[Any] = []
    proto.hand_off().addErrback(refused.append)
    assert refused and refused[0].check(AGIError) and not proto.handed_off


# ---- through the simulated switch: the hand-off runs the generated [ccbox-handoff] --------


def handed_off_in_the_simulator(shutdown: str) -> tuple[SimulatedCall, list[dict[str, str]]]:
    """A caller holding in a route, handed off; what its channel ran after AGI()."""
    from twisted.internet.task import Clock
    from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

    from appliance.config import parse
    from appliance.switch_settings import asterisk_settings
    from drivers.asterisk import confgen
    from drivers.asterisk.agi.server import FastAGIFactory
    from drivers.asterisk.dialplan import parse as parse_dialplan

    config = parse(f"[ami]\nsecret = 0123456789abcdef\n[shutdown]\n{shutdown}")
    clock = Clock()
    plan = parse_dialplan(confgen.extensions_conf(asterisk_settings(config)))
    switch = Switch(clock, dialplan=plan, sounds=sounds_for_tests())
    ran: list[dict[str, str]] = []
    switch.subscribe(lambda h: ran.append(dict(h)) if dict(h).get("Event") == "Newexten" else 0)
    sessions: list[AGISessionProtocol] = []

    async def inbound(s: AGISessionProtocol) -> None:
        sessions.append(s)
        await s.set_music(True, "default")  # how a queue's caller waits (acd/caller.py)
        await s.wait_for_digit(600_000)

    factory = FastAGIFactory(clock, {"inbound": inbound})
    server = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert server is not None
    caller = SimulatedCall(clock, CallerScript(), switch=switch)
    pump = connect(server, makeFakeServer(server), caller, makeFakeClient(caller))
    for _ in range(4):
        pump.flush()
        clock.advance(0.5)
    del ran[:]  # the way in: ccbox-inbound up to AGI()
    sessions[0].hand_off()
    for _ in range(10):
        pump.flush()
        clock.advance(0.5)
    return caller, ran


def test_the_simulator_runs_the_hand_off_as_asterisk_would() -> None:
    caller, ran = handed_off_in_the_simulator("")
    assert caller.outcome.commands[-2:] == [
        "GET FULL VARIABLE ccbox-sync-1",
        'SET VARIABLE CCBOX_HANDOFF "1"',
    ]
    assert [(e["Context"], e["Application"], e["AppData"]) for e in ran] == [
        ("ccbox-inbound", "GotoIf", '$["1" = "1"]?handoff'),
        ("ccbox-inbound", "Goto", "ccbox-handoff,s,1"),
        ("ccbox-handoff", "Answer", ""),
        ("ccbox-handoff", "Playback", "ccbox-handoff"),
        ("ccbox-handoff", "Hangup", ""),
    ]
    assert not caller.outcome.caller_hung_up and caller.switch.pbx.refusals == []
    assert not caller.channel.alive


def test_a_hand_off_to_an_extension_dials_the_old_pbx() -> None:
    caller, ran = handed_off_in_the_simulator("handoff = extension\nhandoff_to = 8000\n")
    assert ("ccbox-extensions", "Dial", "PJSIP/8000,60") in [
        (e["Context"], e["Application"], e["AppData"]) for e in ran
    ]
    assert caller.switch.pbx.refusals == []


def test_a_voicemail_hand_off_is_refused_loudly_by_the_simulator() -> None:
    """The simulator has no app_voicemail: it refuses by name instead of pretending."""
    caller, _ = handed_off_in_the_simulator("handoff = voicemail\nhandoff_to = 800\n")
    assert len(caller.switch.pbx.refusals) == 1
    assert "VoiceMail" in caller.switch.pbx.refusals[0]
    assert "ccbox-handoff" in caller.switch.pbx.refusals[0]
