"""The FastAGI server marks every session it takes (CCBOX_AGI=1) before the route's first
command, and the generated dialplan's fallback tests that mark: a caller ccboxd handled never
hears "no service", even when a command inside the session failed (AGISTATUS FAILURE)."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from drivers.asterisk import confgen
from drivers.asterisk.agi.server import SESSION_MARK, FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.switch import Switch

HEADER = (
    b"agi_network: yes\nagi_network_script: inbound\nagi_channel: DAHDI/1-1\n"
    b"agi_uniqueid: 1795353435.74\nagi_callerid: 13800138000\nagi_arg_1: 4008001234\n\n"
)
MARK_LINE = b'SET VARIABLE CCBOX_AGI "1"\n'


def session(routes: dict[str, Any]) -> tuple[AGISessionProtocol, StringTransport]:
    factory = FastAGIFactory(Clock(), routes)
    proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert proto is not None
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport


def test_the_mark_is_the_first_command_and_the_route_follows() -> None:
    async def inbound(s: AGISessionProtocol) -> None:
        await s.stream_file("ccbox-welcome")

    proto, transport = session({"inbound": inbound})
    proto.dataReceived(HEADER)
    assert transport.value() == MARK_LINE  # one command at a time: the route's waits
    proto.dataReceived(b"200 result=1\n")
    assert transport.value() == MARK_LINE + b'STREAM FILE ccbox-welcome ""\n'
    proto.dataReceived(b"200 result=0 endpos=8000\n")
    assert transport.disconnecting  # the route ended: the session closes


def test_a_route_that_sends_nothing_still_marks_the_session() -> None:
    proto, transport = session({"inbound": lambda s: defer.succeed(None)})
    proto.dataReceived(HEADER)
    assert transport.value() == MARK_LINE


def test_a_session_lost_before_the_mark_is_answered_never_runs_the_route() -> None:
    """The route starts at the mark's reply (the whole header is in by then)."""
    ran: list[Any] = []

    async def inbound(s: AGISessionProtocol) -> None:
        ran.append(s)
        await s.answer()

    proto, transport = session({"inbound": inbound})
    proto.dataReceived(HEADER)
    proto.connectionLost(None)  # the mark's own failure is expected and swallowed
    assert transport.value() == MARK_LINE and ran == []


def test_the_simulated_switch_accepts_the_mark_as_asterisk_does() -> None:
    """Through the real factory: the simulator answers 200 result=1 and the channel keeps
    the variable, so its dialplan sees what Asterisk's would."""
    clock = Clock()
    heard: list[Any] = []

    async def inbound(s: AGISessionProtocol) -> None:
        heard.append(await s.get_variable(SESSION_MARK))
        await s.hangup()

    factory = FastAGIFactory(clock, {"inbound": inbound})
    server = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert server is not None
    caller = SimulatedCall(clock, CallerScript(), switch=Switch(clock))
    pump = connect(server, makeFakeServer(server), caller, makeFakeClient(caller))
    for _ in range(20):
        pump.flush()
        clock.advance(0.5)
    assert caller.outcome.commands[:3] == [
        'SET VARIABLE CCBOX_AGI "1"',
        "GET VARIABLE CCBOX_AGI",
        "HANGUP",
    ]
    assert heard == ["1"] and caller.variables[SESSION_MARK] == "1"


def test_the_dialplan_tests_the_mark_the_server_sets() -> None:
    text = confgen.extensions_conf(confgen.AsteriskSettings())
    assert confgen.AGI_MARK == SESSION_MARK
    assert f'GotoIf($["${{{SESSION_MARK}}}" != "1"]?fallback)' in text
    lines = [line for line in text.splitlines() if not line.startswith(";")]
    assert not [line for line in lines if "AGISTATUS" in line]
