"""FastAGI inputs that broke real systems, and quoting that is safe for any text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.agi.codec import AGIQuotingError, parse_reply, text, token
from drivers.asterisk.agi.server import FastAGIFactory
from drivers.asterisk.agi.session import (
    AGIConnectionLost,
    AGISessionProtocol,
    AGITimeout,
    Interrupted,
)

HEADER = (
    b"agi_network: yes\nagi_network_script: inbound?x=1\nagi_channel: DAHDI/1-1\n"
    b"agi_uniqueid: 1795353435.74\nagi_callerid: 13800138000\n"
    b"agi_calleridname: a: b: c\nagi_accountcode: \nagi_arg_1: 4008001234\n\n"
)


def session(clock: Clock | None = None) -> tuple[AGISessionProtocol, StringTransport, list]:
    ready: list[AGISessionProtocol] = []
    proto = AGISessionProtocol(clock or Clock(), ready.append)
    t = StringTransport()
    proto.makeConnection(t)
    return proto, t, ready


def unquote(arg: str) -> str:
    """Asterisk's argument splitting for one quoted argument (res_agi parse_args)."""
    assert arg[0] == '"' and arg[-1] == '"'
    out, i, body = [], 0, arg[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\":
            i += 1
            c = body[i]
        elif c == '"':
            raise AssertionError("unescaped quote inside")
        out.append(c)
        i += 1
    return "".join(out)


@given(st.text().filter(lambda s: not any(c in s for c in "\r\n\x00")))
def test_text_quoting_round_trips_any_text(value: str) -> None:
    assert unquote(text(value)) == value


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "nul\x00", "x\nHANGUP"])
def test_line_breaks_are_refused(bad: str) -> None:
    with pytest.raises(AGIQuotingError):
        text(bad)


@pytest.mark.parametrize("bad", ["two words", 'q"uote', "back\\slash", "", "a\nb", "ü"])
def test_tokens_refuse_anything_needing_quotes(bad: str) -> None:
    with pytest.raises(AGIQuotingError):
        token(bad)


def test_header_values_with_colons_and_blank_lines_before() -> None:
    proto, _, ready = session()
    proto.dataReceived(b"\n\n" + HEADER)
    assert ready == [proto]
    env = proto.env
    assert env is not None
    assert env.script == "inbound?x=1" and env.args == ["4008001234"]
    assert env.caller_name == "a: b: c" and env.get("accountcode") == ""


def test_huge_caller_name_drops_the_session_before_any_route() -> None:
    proto, t, ready = session()
    proto.dataReceived(b"agi_network: yes\nagi_calleridname: " + b"x" * (1024 * 1024) + b"\n\n")
    assert ready == [] and t.disconnecting


def test_header_without_end_or_with_junk_is_dropped() -> None:
    proto, t, ready = session()
    proto.dataReceived(b"".join(b"agi_x%d: y\n" % i for i in range(500)))
    assert ready == [] and t.disconnecting
    proto, t, ready = session()
    proto.dataReceived(b"GET / HTTP/1.1\n")
    assert ready == [] and t.disconnecting


def test_socket_closed_mid_command_fails_it_and_ends_the_session() -> None:
    proto, t, _ = session()
    proto.dataReceived(HEADER)
    d = proto.command("STREAM FILE", "hello", '""')
    queued = proto.command("HANGUP")
    assert t.value() == b'STREAM FILE hello ""\n'  # one command at a time
    proto.connectionLost(None)
    for x in (d, queued):
        assert x.result.check(AGIConnectionLost)
        x.addErrback(lambda _f: None)
    assert proto.ended.called
    late = proto.command("ANSWER")
    assert late.result.check(AGIConnectionLost)
    late.addErrback(lambda _f: None)


def test_command_timeout_fails_and_closes() -> None:
    clock = Clock()
    proto, t, _ = session(clock)
    proto.dataReceived(HEADER)
    d = proto.command("ANSWER", timeout=5)
    clock.advance(5)
    assert d.result.check(AGITimeout) and t.disconnecting
    d.addErrback(lambda _f: None)


def test_reply_parsing_corner_cases() -> None:
    r = parse_reply("200 result=1 (a (nested) value) endpos=9")
    assert (r.result, r.data, r.extras) == ("1", "a (nested) value", {"endpos": "9"})
    assert parse_reply("200 result=12 (timeout)").data == "timeout"
    assert parse_reply("200 result=-1 endpos=0").extras == {"endpos": "0"}
    assert parse_reply("510 Invalid or unknown command").code == 510


def make_factory(routes: dict[str, Any]) -> FastAGIFactory:
    return FastAGIFactory(Clock(), routes)


def connect(factory: FastAGIFactory, host: str = "127.0.0.1") -> tuple[Any, StringTransport]:
    proto = factory.buildProtocol(IPv4Address("TCP", host, 40000))
    if proto is None:
        return None, StringTransport()
    t = StringTransport()
    proto.makeConnection(t)
    return proto, t


def test_unknown_script_gets_hangup_and_is_closed() -> None:
    f = make_factory({"inbound": lambda s: defer.succeed(None)})
    proto, t = connect(f)
    proto.dataReceived(HEADER.replace(b"inbound?x=1", b"../../etc/passwd"))
    assert t.value() == b"HANGUP\n"
    proto.dataReceived(b"200 result=1\n")
    assert t.disconnecting


def test_route_runs_and_session_is_forgotten_when_it_ends() -> None:
    calls: list[str] = []

    async def inbound(s: AGISessionProtocol) -> None:
        assert s.env is not None
        calls.append(s.env.uniqueid)
        await s.answer()

    f = make_factory({"inbound": inbound})
    proto, t = connect(f)
    proto.dataReceived(HEADER)
    # The session mark goes first (see tests/unit/test_agi_session_mark.py); the route
    # starts at its reply (the whole header is in by then: see test_agi_header.py).
    assert calls == [] and t.value() == b'SET VARIABLE CCBOX_AGI "1"\n'
    proto.dataReceived(b"200 result=1\n")
    assert calls == ["1795353435.74"] and t.value().endswith(b"\nANSWER\n")
    proto.dataReceived(b"200 result=0\n")
    assert t.disconnecting  # route done: the session is closed
    assert len(f.sessions) == 1
    proto.connectionLost(None)
    assert len(f.sessions) == 0 and f.total == 1


def test_connection_from_a_non_allowed_address_is_refused() -> None:
    f = make_factory({})
    proto, _ = connect(f, "10.1.2.3")
    assert proto is None and f.refused == 1 and not f.sessions


def test_server_listens_with_a_backlog_for_bursts_of_calls() -> None:
    from twisted.internet.testing import MemoryReactorClock

    from drivers.asterisk.agi.server import FastAGIServer

    reactor = MemoryReactorClock()
    server = FastAGIServer(reactor, "127.0.0.1", 4573, {})
    server.startService()
    [(port, _factory, backlog, interface)] = reactor.tcpServers
    # 500 simultaneous connects dropped a third of the calls with Twisted's default of 50.
    assert (port, interface) == (4573, "127.0.0.1") and backlog >= 1024


def _interrupted(first: tuple[str, ...], stale: bytes | None) -> tuple[list[Any], bytes, list[Any]]:
    """A playback ``first`` (command, args...) cut by EXEC Dial; ``stale`` is the playback's
    own reply, if it had ended before the interrupt reached Asterisk. Returns (the Dial's
    results, what went on the wire after the playback, the playback's failures)."""
    s, transport, _ = session()
    s.dataReceived(HEADER)
    playback = s.command(*first, timeout=3600)
    failures: list[Any] = []
    playback.addErrback(failures.append)
    transport.clear()
    dial = s.interrupt("EXEC", "Dial", '"PJSIP/1001,15"')
    # The marker goes first; the Dial waits for its echo.
    assert transport.value() == b"GET FULL VARIABLE ccbox-sync-1\n"
    got: list[Any] = []
    dial.addCallback(got.append)
    if stale is not None:
        s.dataReceived(stale)
        assert got == [] and transport.value() == b"GET FULL VARIABLE ccbox-sync-1\n"
    s.dataReceived(b"200 result=1 (ccbox-sync-1)\n")
    wire = transport.value()
    s.dataReceived(b"200 result=-1\n")  # the Dial's own answer
    assert s.stale_replies == (1 if stale is not None else 0)
    return got, wire, failures


@pytest.mark.parametrize(
    "first, stale",
    [
        (("STREAM FILE", "ccbox-hold", '""'), b"200 result=0 endpos=4800000\n"),
        # SAY and GET DATA replies carry no endpos: the late SAY NUMBER "200 result=0" was
        # taken for the Dial's answer on a real switch, and every later reply shifted by one.
        (("SAY NUMBER", "3", '""'), b"200 result=0\n"),
        (("SAY DIGITS", "42", '""'), b"200 result=50\n"),
        (("GET DATA", "ccbox-queue-wait", "3000", "4"), b"200 result=12\n"),
        (("GET DATA", "ccbox-queue-wait", "3000", "4"), b"200 result= (timeout)\n"),
        (("STREAM FILE", "ccbox-hold", '""'), None),  # Asterisk cut it: no reply at all
        (("SAY NUMBER", "3", '""'), None),
    ],
)
def test_interrupt_answers_the_new_command_with_its_own_reply(
    first: tuple[str, ...], stale: bytes | None
) -> None:
    got, wire, failures = _interrupted(first, stale)
    assert failures and failures[0].check(Interrupted)
    assert wire.endswith(b'GET FULL VARIABLE ccbox-sync-1\nEXEC Dial "PJSIP/1001,15"\n')
    assert [r.result for r in got] == ["-1"]


def test_a_playback_may_interrupt_a_playback() -> None:
    """With the marker, even a reply of the same shape is told apart."""
    s, transport, _ = session()
    s.dataReceived(HEADER)
    s.command("STREAM FILE", "ccbox-hold", '""').addErrback(lambda f: f.trap(Interrupted))
    second = s.interrupt("STREAM FILE", "ccbox-queue-position", '""')
    got: list[Any] = []
    second.addCallback(got.append)
    s.dataReceived(b"200 result=0 endpos=160000\n")  # the hold music's own, late
    s.dataReceived(b"200 result=1 (ccbox-sync-1)\n")
    s.dataReceived(b"200 result=0 endpos=8000\n")
    assert [r.extras["endpos"] for r in got] == ["8000"]
    assert transport.value().endswith(b'STREAM FILE ccbox-queue-position ""\n')


def test_interrupt_without_a_playback_just_queues() -> None:
    s, transport, _ = session()
    s.dataReceived(HEADER)
    transport.clear()
    wait = s.command("GET VARIABLE", "X")
    later = s.interrupt("ANSWER")
    assert transport.value() == b"GET VARIABLE X\n"  # one command at a time
    s.dataReceived(b"200 result=0\n")
    assert wait.called and transport.value().endswith(b"ANSWER\n") and not later.called


def test_interrupt_cuts_a_wait_for_digit_and_drops_its_late_answer() -> None:
    """A waiting caller's WAIT FOR DIGIT -1 is cut by the next command: Asterisk answers it
    ``200 result=1`` (res_agi.c: ast_waitfordigit_full watches the socket), which must not
    be taken for the reply of the command that cut it."""
    s, transport, _ = session()
    s.dataReceived(HEADER)
    transport.clear()
    wait = s.command("WAIT FOR DIGIT", "-1")
    cut: list[Any] = []
    wait.addErrback(lambda f: cut.append(f.trap(Interrupted)))
    assert s.interruptible
    dial = s.interrupt("EXEC", "Dial", '"IAX2/1001,5,t"')
    assert cut == [Interrupted]
    assert transport.value() == (b"WAIT FOR DIGIT -1\nGET FULL VARIABLE ccbox-sync-1\n")
    s.dataReceived(b"200 result=1\n")  # the cut wait's own answer: stale
    s.dataReceived(b"200 result=1 (ccbox-sync-1)\n")
    assert transport.value().endswith(b'EXEC Dial "IAX2/1001,5,t"\n') and not dial.called
    s.dataReceived(b"200 result=0\n")
    assert dial.called and s.stale_replies == 1


def test_a_hangup_watch_fires_on_the_hangup_line_and_can_be_cancelled() -> None:
    """A caller on the switch's music with no command in progress is watched through the
    unsolicited HANGUP line alone."""
    s, _, _ = session()
    s.dataReceived(HEADER)
    gone = s.when_hung_up()
    dropped = s.when_hung_up()
    dropped.addErrback(lambda f: f.trap(defer.CancelledError))
    dropped.cancel()
    assert not gone.called
    s.dataReceived(b"HANGUP\n")
    assert gone.called and s.hung_up
    assert s.when_hung_up().called  # already gone: at once


def test_the_scripts_own_hangup_ends_the_channel_at_its_reply() -> None:
    """HANGUP answers 200 result=1 and the HANGUP line comes ~40 ms later: a route that asks
    hung_up in between must not hang up a second time."""
    s, transport, _ = session()
    s.dataReceived(HEADER)
    done: list[Any] = []
    defer.ensureDeferred(s.hangup()).addCallback(done.append)
    s.dataReceived(b"200 result=1\n")
    assert done == [None] and s.hung_up
    assert transport.value().count(b"HANGUP") == 1
