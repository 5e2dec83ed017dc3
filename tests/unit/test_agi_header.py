"""The FastAGI header as Asterisk writes it, and every way a caller's values try to rewrite it.

Asterisk writes a fixed set of ``agi_*`` keys in a fixed order (res_agi.c launch_netscript
and setup_env) with the caller name, number, DNID, RDNIS and extension as the trunk gave
them. A line break in one of those is the trunk's: the value goes on, shown as U+FFFD. A
line that is a key Asterisk never sends, or sends earlier, or already sent, refuses the
session (the log names the call, no route runs, the dialplan's fallback plays); a value
that ends the header early is caught by the rest of the header coming before the first
reply.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.test.iosim import connect, makeFakeClient, makeFakeServer

from drivers.asterisk.agi.codec import HEADER_KEYS, RAW_VALUES, HeaderParser
from drivers.asterisk.agi.server import SESSION_MARK, FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.simulator.agi_caller import CallerScript, SimulatedCall
from drivers.asterisk.simulator.switch import Switch
from tests.support.traces import agi_sessions, load, trace_names

MARK = b'SET VARIABLE CCBOX_AGI "1"\n'
UNMARK = b'SET VARIABLE CCBOX_AGI ""\n'


def trace_headers() -> list[list[str]]:
    """Every FastAGI header in the traces, as the lines Asterisk sent."""
    out = []
    for name in trace_names():
        for lines in agi_sessions(load(name)).values():
            header: list[str] = []
            for ln in lines:
                if ln.direction != "<":
                    break
                if ln.text == "":
                    out.append(header)
                    break
                header.append(ln.text)
    assert out
    return out


# The first header of inbound-ivr-to-agent.trace, as Asterisk 22.10.1 sent it.
ASTERISK = [
    ("network", "yes"),
    ("network_script", "inbound"),
    ("request", "agi://127.0.0.1:4573/inbound"),
    ("channel", "Local/press1@sim-callers-00000020;1"),
    ("language", "en"),
    ("type", "Local"),
    ("uniqueid", "1795353349.64"),
    ("version", "22.10.1"),
    ("callerid", "13800138000"),
    ("calleridname", "Zhang San"),
    ("callingpres", "0"),
    ("callingani2", "0"),
    ("callington", "0"),
    ("callingtns", "0"),
    ("dnid", "unknown"),
    ("rdnis", "unknown"),
    ("context", "from-pstn"),
    ("extension", "4008001234"),
    ("priority", "2"),
    ("enhanced", "0.0"),
    ("accountcode", ""),
    ("threadid", "140504279418560"),
    ("arg_1", "4008001234"),
]
RAW = [k for k, _ in ASTERISK if k in RAW_VALUES or k.startswith("arg_")]


def header(**values: str) -> bytes:
    """Asterisk's header with some values replaced (written as Asterisk would: raw)."""
    return ("".join(f"agi_{k}: {values.get(k, v)}\n" for k, v in ASTERISK) + "\n").encode()


class Offer:
    """One session through the real factory, answered as Asterisk answers the mark."""

    def __init__(self, data: bytes, chunk: int = 0) -> None:
        self.clock = Clock()
        self.ran: list[AGISessionProtocol] = []
        self.logged: list[str] = []

        async def route(s: AGISessionProtocol) -> None:
            self.ran.append(s)
            await s.answer()

        self.factory = FastAGIFactory(self.clock, {"inbound": route, "voicemail": route})
        proto = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert isinstance(proto, AGISessionProtocol)
        self.proto, self.transport = proto, StringTransport()

        def observer(event: Any) -> None:
            self.logged.append(formatEvent(event) or "")

        globalLogPublisher.addObserver(observer)
        try:
            proto.makeConnection(self.transport)
            pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] if chunk else [data]
            for piece in pieces:
                proto.dataReceived(piece)
            for _ in range(2):  # the mark, then the mark cleared (a refused session)
                if self.transport.value().endswith((MARK, UNMARK)):
                    proto.dataReceived(b"200 result=1\n")
        finally:
            globalLogPublisher.removeObserver(observer)

    def refused(self) -> bool:
        """No route ran, the socket is closing, and the mark is not left set."""
        wire = self.transport.value()
        unmarked = wire in (b"", MARK + UNMARK)
        return self.ran == [] and self.transport.disconnecting and unmarked


def test_asterisk_writes_every_header_in_one_order() -> None:
    """The traces are the ground truth: the keys and their order, agi_arg_N last."""
    for lines in trace_headers():
        keys = [line.split(":", 1)[0][4:] for line in lines]
        args = [k for k in keys if k.startswith("arg_")]
        assert keys == [k for k in HEADER_KEYS if k in keys] + args
        assert args == [f"arg_{n}" for n in range(1, len(args) + 1)]
        assert set(HEADER_KEYS) - set(keys) <= {"network_script"}
    assert [f"agi_{k}: {v}" for k, v in ASTERISK] in trace_headers()


def test_every_trace_header_is_read_whole() -> None:
    for lines in trace_headers():
        parser = HeaderParser()
        done = [parser.line(line) for line in [*lines, ""]]
        assert done[-1] and not any(done[:-1])
        assert list(parser.values) == [line.split(":", 1)[0][4:] for line in lines]


def test_the_simulator_writes_asterisks_header_with_the_raw_name() -> None:
    clock = Clock()
    name = "Bob\nagi_callerid: 10086"
    caller = SimulatedCall(clock, CallerScript(caller_name=name), switch=Switch(clock))
    transport = StringTransport()
    caller.makeConnection(transport)
    wire = transport.value().decode()
    assert wire.endswith("\n\n")
    lines = wire[:-2].split("\n")
    keys = [line.split(":", 1)[0][4:] for line in lines]
    assert keys[:10] == list(HEADER_KEYS[:10])
    assert lines[9:11] == ["agi_calleridname: Bob", "agi_callerid: 10086"]  # raw, as a trunk
    assert keys[11:] == [*HEADER_KEYS[10:], "arg_1"]


def test_asterisks_header_runs_the_route_with_its_values() -> None:
    offer = Offer(header())
    assert [s.env.values if s.env else None for s in offer.ran] == [dict(ASTERISK)]
    assert offer.transport.value() == MARK + b"ANSWER\n"


def test_a_header_in_one_byte_pieces_is_the_same_header() -> None:
    offer = Offer(header(calleridname="Bob\nSmith"), chunk=1)
    assert len(offer.ran) == 1 and offer.ran[0].env is not None
    assert offer.ran[0].env.caller_name == "Bob Smith"


@pytest.mark.parametrize("field", RAW)
@pytest.mark.parametrize("key", [k for k, _ in ASTERISK] + ["arg_2", "x", "network_script "])
def test_a_key_injected_into_a_trunk_value_refuses_the_session(field: str, key: str) -> None:
    """``Bob\\nagi_callerid: 10086``, ``...\\nagi_network_script: voicemail``,
    ``...\\nagi_channel: PJSIP/1001-000000ff``: for every value a trunk writes, every key."""
    forged = {"channel": "PJSIP/1001-000000ff", "network_script": "voicemail"}.get(key, "10086")
    value = dict(ASTERISK)[field] + f"\nagi_{key}: {forged}"
    values = {field: value}
    if field == "arg_1":  # ${EXTEN}: the generated dialplan's argument is the extension
        values["extension"] = value
    offer = Offer(header(**values))
    assert offer.refused(), (offer.ran, offer.transport.value())
    named = [m for m in offer.logged if "FastAGI session refused" in m]
    assert len(named) == 1
    assert "'Local/press1@sim-callers-00000020;1'" in named[0] and "'1795353349.64'" in named[0]
    assert offer.factory.refusals.counts == {"header": 1}


def test_a_name_that_ends_the_header_and_forges_the_rest_is_refused() -> None:
    """The forged rest ends with an empty line; Asterisk's own rest then comes before the
    mark's reply: the mark is cleared (the fallback plays) and the route never runs."""
    tail = "".join(f"\nagi_{k}: {'9' if k != 'calleridname' else ''}" for k, _ in ASTERISK[10:])
    offer = Offer(header(calleridname="Bob" + tail + "\n"))
    assert offer.transport.value() == MARK + UNMARK
    assert offer.refused()
    assert any("went on after its end" in m and "1795353349.64" in m for m in offer.logged)


@pytest.mark.parametrize(
    "name, stored",
    [
        # drivers/asterisk/caller_id.py: a break is a space, other controls go
        ("Bob\nSmith", "Bob Smith"),  # a bare LF: the call is served
        ("Bob\n\nSmith", "Bob Smith"),  # an empty line inside the name too
        ("Bo\rb", "Bo b"),  # a CR is never stored raw
        ("Bob\x1b[31m\x07", "Bob[31m"),  # terminal escapes, a bell
        ("a: b: c", "a: b: c"),
        ("王小明", "王小明"),
    ],
)
def test_control_characters_in_a_name_are_shown_not_kept(name: str, stored: str) -> None:
    offer = Offer(header(calleridname=name))
    assert len(offer.ran) == 1 and offer.ran[0].env is not None
    assert offer.ran[0].env.caller_name == stored
    assert offer.ran[0].env.caller_number == "13800138000"


@pytest.mark.parametrize(
    "data",
    [
        header().replace(b"agi_callingpres: 0\n", b""),  # keys may be missing ...
        b"agi_network: yes\nagi_network_script: inbound\nagi_uniqueid: 1.1\n\n",
    ],
)
def test_a_header_missing_keys_but_in_order_is_served(data: bytes) -> None:
    assert len(Offer(data).ran) == 1


@pytest.mark.parametrize(
    "data",
    [
        header().replace(b"agi_callingpres: 0\n", b"agi_callingpres: 0\n" * 2),  # repeated
        header().replace(b"agi_version", b"agi_versionx"),  # unknown
        header().replace(b"agi_arg_1", b"agi_arg_2"),  # arguments count from 1
        header().replace(b"agi_threadid: 140504279418560\n", b""),  # ... not the end
        header().replace(b"agi_callingani2: 0\n", b"agi_callingani2: 0\nfoo\n"),  # free text
        b"agi_network: yes\nagi_uniqueid: 1.1\nagi_channel: DAHDI/1-1\n\n",  # order
    ],
)
def test_a_header_asterisk_cannot_have_written_is_refused(data: bytes) -> None:
    assert Offer(data).refused()


def test_the_simulated_switch_plays_the_fallback_for_an_injected_name() -> None:
    """End to end through the simulator: the routes never run, nothing the name says is
    used, and the channel is left without the mark, so the dialplan's fallback plays."""
    for name in (
        "Bob\nagi_network_script: voicemail",
        "Bob\nagi_callerid: 10086\nagi_channel: PJSIP/1001-000000ff",
        "Bob" + "".join(f"\nagi_{k}: 9" for k, _ in ASTERISK[10:]) + "\n",
    ):
        clock = Clock()
        ran: list[Any] = []

        async def route(s: AGISessionProtocol, ran: list[Any] = ran) -> None:
            ran.append(s.env)
            await s.hangup()

        factory = FastAGIFactory(clock, {"inbound": route, "voicemail": route})
        server = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        assert server is not None
        caller = SimulatedCall(clock, CallerScript(caller_name=name), switch=Switch(clock))
        pump = connect(server, makeFakeServer(server), caller, makeFakeClient(caller))
        for _ in range(10):
            pump.flush()
            clock.advance(0.5)
        assert ran == [] and caller.finished.called
        assert caller.variables.get(SESSION_MARK, "") != "1"
        assert set(caller.outcome.commands) <= {MARK.decode().strip(), UNMARK.decode().strip()}


def test_an_unknown_script_still_hangs_up_at_once() -> None:
    offer = Offer(header(network_script="../../etc/passwd"))
    assert offer.ran == [] and offer.transport.value() == b"HANGUP\n"


def test_a_session_handed_off_before_the_marks_reply_never_runs_the_route() -> None:
    """A stop (appliance/shutdown.py) hands back a session whose route has not begun: the
    mark's reply must not start it then."""
    ran: list[Any] = []

    async def route(s: AGISessionProtocol) -> None:
        ran.append(s)

    factory = FastAGIFactory(Clock(), {"inbound": route})
    proto = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert isinstance(proto, AGISessionProtocol)
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(header())
    proto.hand_off()
    proto.dataReceived(b"200 result=1\n")  # the mark's
    assert transport.value() == MARK + b'SET VARIABLE CCBOX_HANDOFF "1"\n'
    proto.dataReceived(b"200 result=1\n")  # the hand-off's
    assert ran == [] and transport.disconnecting
