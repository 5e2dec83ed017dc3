"""Replay the real AMI traces through the codec and the protocol."""

from __future__ import annotations

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from drivers.asterisk.ami.codec import Parser
from drivers.asterisk.ami.protocol import ActionError, AMIProtocol, ListResult
from tests.support.traces import ami_bytes, load, trace_names

pytestmark = pytest.mark.usefixtures("ami_scan")  # every test on both scanners

pytestmark = pytest.mark.usefixtures("ami_scan")  # every test on both scanners


def connected(prefix: str = "a") -> tuple[AMIProtocol, StringTransport, list, Clock]:
    clock = Clock()
    events: list = []
    proto = AMIProtocol(clock, on_event=events.append, action_id_prefix=prefix)
    transport = StringTransport()
    proto.makeConnection(transport)
    return proto, transport, events, clock


@pytest.mark.parametrize("name", trace_names())
def test_every_trace_parses_cleanly(name: str) -> None:
    lines = load(name)
    data = ami_bytes(lines)
    parser = Parser()
    if not data.startswith(b"Asterisk Call Manager/"):
        parser.feed(b"Asterisk Call Manager/11.0.0\r\n")  # trace starts mid-session
    whole = parser.feed(data)
    assert parser.malformed_lines == 0
    assert all(m.event or m.response for m in whole)
    assert len(whole) == sum(
        1 for ln in lines if ln.socket == "AMI" and ln.direction == "<" and ln.text == ""
    )
    # Byte by byte gives the same messages as all at once.
    trickle = Parser()
    trickle.banner = parser.banner
    one_by_one = []
    body = data[data.index(b"\n") + 1 :] if data.startswith(b"Asterisk") else data
    for i in range(len(body)):
        one_by_one.extend(trickle.feed(body[i : i + 1]))
    assert one_by_one == whole


def test_filtering_by_event_name_keeps_responses_and_action_events() -> None:
    data = ami_bytes(load("outbound-originate"))
    parser = Parser(wanted_events={"Hangup", "Newchannel"})
    parser.feed(b"Asterisk Call Manager/11.0.0\r\n")
    msgs = parser.feed(data)
    names = {m.event for m in msgs if m.event}
    assert names <= {
        "Hangup",
        "Newchannel",
        "OriginateResponse",
        "CoreShowChannel",
        "CoreShowChannelsComplete",
    }
    assert "OriginateResponse" in names  # carries our ActionID: never filtered
    assert any(m.response == "Success" and not m.event for m in msgs)
    assert parser.skipped_events > 50


def test_login_and_basics_replayed_header_for_header() -> None:
    lines = load("ami-login-and-basics")
    proto, transport, events, _ = connected()
    from_asterisk = ami_bytes(lines, "<")
    banner_end = from_asterisk.index(b"\r\n") + 2
    proto.dataReceived(from_asterisk[:banner_end])
    assert proto.banner.result == "Asterisk Call Manager/11.0.0"

    login = proto.send_action("Login", [("Username", "ccbox"), ("Secret", "ccbox-secret")])
    ping = proto.send_action("Ping")
    bad = proto.send_action("NoSuchAction")
    command = proto.send_action("Command", [("Command", "core show version")])
    channels = proto.send_list_action("CoreShowChannels")
    queues = proto.send_list_action("QueueStatus")
    getvar = proto.send_action("Getvar", [("Variable", "GLOBALVAR_UNSET")])
    user = proto.send_action("UserEvent", [("UserEvent", "CcboxHello"), ("Body", "hi")])
    assert transport.value() == ami_bytes(lines, ">")  # exactly what the trace sent

    proto.dataReceived(from_asterisk[banner_end:])
    assert login.result["Message"] == "Authentication accepted"
    assert proto.fully_booted.called
    assert ping.result["Ping"] == "Pong"
    failure = bad.result
    assert isinstance(failure.value, ActionError)
    assert "Invalid/unknown command: NoSuchAction" in str(failure.value)
    bad.addErrback(lambda _f: None)
    assert command.result.get_all("Output")[0].startswith("Asterisk 22.10.1")
    ch: ListResult = channels.result
    assert (ch.events, ch.complete["ListItems"]) == ([], "0")
    qs: ListResult = queues.result
    assert [e.event for e in qs.events] == ["QueueParams", "QueueMember", "QueueMember"]
    assert qs.complete["ListItems"] == "3"
    assert getvar.result["Value"] == ""
    assert user.result["Message"] == "Event Sent"
    # UserEvent carries our ActionID but is an event, not a reply: it reaches subscribers.
    assert [e.event for e in events] == [
        "FullyBooted",
        "SuccessfulAuth",
        "RequestBadFormat",
        "UserEvent",
    ]
    assert proto._pending == {}


def test_login_failure_and_logoff_replayed() -> None:
    proto, transport, _, _ = connected()
    proto.dataReceived(ami_bytes(load("ami-login-failure"), "<")[:30])
    d = proto.send_action("Login", [("Username", "ccbox"), ("Secret", "wrong")])
    proto.dataReceived(ami_bytes(load("ami-login-failure"), "<")[30:])
    assert "Authentication failed" in str(d.result.value)
    d.addErrback(lambda _f: None)

    proto, transport, _, _ = connected()
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\n")
    proto._ids = iter([22])  # the trace's ActionID was a22
    logoff = proto.send_action("Logoff")
    lines = load("ami-logoff")
    assert transport.value() == ami_bytes(lines, ">")
    proto.dataReceived(ami_bytes(lines, "<"))
    assert logoff.result.response == "Goodbye"


def test_originate_reply_then_originate_response_event() -> None:
    lines = load("outbound-originate")
    proto, transport, events, _ = connected()
    proto.dataReceived(b"Asterisk Call Manager/11.0.0\r\n")
    proto._ids = iter([13, 14])
    d = proto.send_action(
        "Originate",
        [
            ("Channel", "Local/5551234@pstn-out"),
            ("Context", "ccbox-apps"),
            ("Exten", "agent-bridge"),
            ("Priority", "1"),
            ("CallerID", '"Campaign" <4008001234>'),
            ("Async", "true"),
            ("Timeout", "15000"),
            ("Variable", "CCBOX_CAMPAIGN=7"),
        ],
    )
    snapshot = proto.send_list_action("CoreShowChannels")
    assert transport.value() == ami_bytes(lines, ">")
    proto.dataReceived(ami_bytes(lines, "<"))
    assert d.result["Message"] == "Originate successfully queued"
    [resp] = [e for e in events if e.event == "OriginateResponse"]
    assert (resp["ActionID"], resp["Response"], resp["Reason"]) == ("a13", "Success", "4")
    assert len(snapshot.result.events) == int(snapshot.result.complete["ListItems"]) > 0
