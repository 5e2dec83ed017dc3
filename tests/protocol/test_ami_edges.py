"""AMI inputs that broke real systems: injection, endless lines, junk headers, timeouts."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from drivers.asterisk.ami.codec import (
    ActionTooLarge,
    InjectionError,
    Parser,
    ProtocolError,
    encode_action,
    unescape,
)
from drivers.asterisk.ami.protocol import (
    ActionTimeout,
    AMIConnectionLost,
    AMIProtocol,
    NotConnected,
)

pytestmark = pytest.mark.usefixtures("ami_scan")  # every test on both scanners

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def connected() -> tuple[AMIProtocol, StringTransport, list, Clock]:
    clock = Clock()
    events: list = []
    proto = AMIProtocol(clock, on_event=events.append, action_id_prefix="t")
    transport = StringTransport()
    proto.makeConnection(transport)
    proto.dataReceived(BANNER)
    return proto, transport, events, clock


@pytest.mark.parametrize(
    "value",
    ["x\r\nEvent: Hangup", "555\r\nApplication: System", "a\nb", "a\rb", "nul\x00byte"],
)
def test_writer_refuses_line_breaks_and_nul_and_writes_nothing(value: str) -> None:
    proto, transport, _, _ = connected()
    d = proto.send_action("Setvar", [("Variable", "X"), ("Value", value)])
    assert isinstance(d.result, Failure) and d.result.check(InjectionError)
    d.addErrback(lambda _f: None)
    assert transport.value() == b""
    assert proto._pending == {}


def test_writer_refuses_bad_header_names() -> None:
    with pytest.raises(InjectionError):
        encode_action("Ping", [("Bad: Name", "x")], "1")
    with pytest.raises(InjectionError):
        encode_action("Ping\r\nAction: Logoff", [], "1")


def test_endless_line_drops_the_connection_and_keeps_memory_flat() -> None:
    proto, transport, _, _ = connected()
    d = proto.send_action("Ping")
    chunk = b"A" * 4096
    for _ in range(17):  # 68 KiB with no end
        if transport.disconnecting:
            break
        proto.dataReceived(chunk)
    assert transport.disconnecting
    assert len(proto.parser._buf) <= 64 * 1024
    proto.connectionLost(Failure(ConnectionError("aborted")))
    assert d.result.check(AMIConnectionLost)
    d.addErrback(lambda _f: None)


def test_parser_limit_raises_protocol_error() -> None:
    p = Parser(max_message_bytes=1000)
    p.feed(BANNER)
    with pytest.raises(ProtocolError):
        p.feed(b"Event: X\r\nValue: " + b"v" * 2000)


def test_malformed_headers_duplicates_utf8_and_nul() -> None:
    p = Parser()
    p.feed(BANNER)
    [m] = p.feed(
        b"Event: Newchannel\r\nno colon here\r\n:empty key\r\nChannel: A\r\nChannel: B\r\n"
        b"CallerIDName: \xe5\xbc\xa0\xff\x00x\r\nVariable: a=1\r\nVariable: b=2\r\n\r\n"
    )
    assert p.malformed_lines == 2
    assert m["Channel"] == "A"  # Asterisk reads the first of duplicates
    assert m.get_all("Variable") == ["a=1", "b=2"]
    assert m["CallerIDName"] == "张\ufffd\ufffdx"
    assert m["channel"] == "A"  # case-insensitive like Asterisk


def test_bare_lf_and_empty_messages_are_accepted() -> None:
    p = Parser()
    msgs = p.feed(b"Asterisk Call Manager/11.0.0\n\n\nEvent: A\nX: 1\n\n\r\n\r\nEvent: B\n\n")
    assert [m.event for m in msgs] == ["A", "B"]


def test_unescape_c_escapes() -> None:
    assert unescape(r"O\'Brien") == "O'Brien"
    assert unescape(r"a\\b\"c\nd") == 'a\\b"c\nd'
    assert unescape("plain") == "plain"


def test_timeout_fails_the_action_and_a_late_reply_is_ignored() -> None:
    proto, _, events, clock = connected()
    d = proto.send_action("Ping", timeout=5)
    clock.advance(5)
    assert d.result.check(ActionTimeout)
    d.addErrback(lambda _f: None)
    proto.dataReceived(b"Response: Success\r\nActionID: t1\r\nPing: Pong\r\n\r\n")
    assert proto.stale_responses == 1 and events == []


def test_connection_lost_fails_every_pending_action_and_list() -> None:
    proto, _, _, clock = connected()
    a = proto.send_action("Ping")
    b = proto.send_list_action("CoreShowChannels")
    proto.dataReceived(b"Response: Success\r\nActionID: t2\r\nEventList: start\r\n\r\n")
    proto.connectionLost(Failure(ConnectionError("gone")))
    for d in (a, b):
        assert d.result.check(AMIConnectionLost)
        d.addErrback(lambda _f: None)
    assert clock.getDelayedCalls() == []  # timers cancelled
    after = proto.send_action("Ping")
    assert after.result.check(NotConnected)
    after.addErrback(lambda _f: None)


def test_wrong_banner_drops_the_connection() -> None:
    proto = AMIProtocol(Clock())
    t = StringTransport()
    proto.makeConnection(t)
    proto.dataReceived(b"SSH-2.0-OpenSSH\r\n")
    assert t.disconnecting


# ---- Asterisk's own limits (main/manager.c: inbuf[1025], AST_MAX_MANHEADERS 128) ----------


def test_writer_refuses_a_line_asterisk_would_cut_and_writes_nothing() -> None:
    value = "x" * (1024 - len("Variable: \r\n"))  # the line and its CRLF: 1,024 bytes
    assert len(encode_action("Ping", [("Variable", value)], "1").split(b"\r\n")[2]) == 1022
    proto, transport, _, _ = connected()
    d = proto.send_action("Ping", [("Variable", value + "x")])
    assert isinstance(d.result, Failure) and d.result.check(ActionTooLarge)
    assert "1025 bytes" in str(d.result.value) and "at most 1024" in str(d.result.value)
    d.addErrback(lambda _f: None)
    assert transport.value() == b"" and proto._pending == {}
    # Bytes, not characters: a name in Chinese takes three bytes a character.
    with pytest.raises(ActionTooLarge):
        encode_action("Ping", [("Variable", "名" * 340 + "x" * 3)], "1")


def test_writer_refuses_more_than_128_header_lines() -> None:
    headers = [(f"X{i}", "y") for i in range(126)]  # with Action and ActionID: 128
    assert encode_action("Ping", headers, "1").count(b"\r\n") == 129
    proto, transport, _, _ = connected()
    d = proto.send_action("Ping", [*headers, ("X126", "y")])
    assert isinstance(d.result, Failure) and d.result.check(ActionTooLarge)
    assert "128" in str(d.result.value)
    d.addErrback(lambda _f: None)
    assert transport.value() == b""
