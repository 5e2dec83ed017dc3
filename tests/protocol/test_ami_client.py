"""The reconnecting AMI client on a fake clock and an endpoint the test controls."""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

from appliance import health
from appliance.config import AmiConfig
from drivers.asterisk.ami.client import AMIClient
from drivers.asterisk.ami.protocol import NotConnected

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class Endpoint:
    """Each connect() is an attempt the test completes with accept()."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, defer.Deferred[Any]]] = []

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        self.attempts.append((factory, d))
        return d

    def accept(self) -> tuple[Any, StringTransport]:
        factory, d = self.attempts[-1]
        proto = factory.buildProtocol(None)
        transport = StringTransport()
        proto.makeConnection(transport)
        d.callback(proto)
        return proto, transport


def reply(proto: Any, transport: StringTransport, text: str) -> None:
    """Answer the last action written, echoing its ActionID."""
    sent = transport.value().decode()
    action_id = sent.split("ActionID: ")[-1].split("\r\n")[0]
    transport.clear()
    proto.dataReceived(text.replace("{id}", action_id).encode())


def make(clock: Clock, endpoint: Endpoint, **kw: Any) -> AMIClient:
    cfg = AmiConfig("127.0.0.1", 5038, "ccbox", "s3cret")
    return AMIClient(clock, cfg, endpoint=endpoint, jitter=lambda: 0.0, **kw)


def login_ok(proto: Any, transport: StringTransport, booted: bool = True) -> None:
    proto.dataReceived(BANNER)
    assert b"Action: Login\r\n" in transport.value()
    assert b"Secret: s3cret\r\n" in transport.value()
    text = "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
    if booted:
        text += "Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n"
    reply(proto, transport, text)


def test_ready_only_after_login_fullybooted_and_resync() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    synced: list[int] = []

    async def resync(c: AMIClient, proto: Any) -> None:
        result = await proto.send_list_action("CoreShowChannels")
        synced.append(len(result.events))

    client.add_resync_hook(resync)
    client.startService()
    proto, transport = endpoint.accept()
    early = client.send_action("Ping")
    assert early.result.check(NotConnected)  # fails fast, never queued
    early.addErrback(lambda _f: None)
    login_ok(proto, transport)
    assert not client.ready  # resync still running
    reply(
        proto,
        transport,
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"
        "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/1001-1\r\n\r\n"
        "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n"
        "ListItems: 1\r\n\r\n",
    )
    assert client.ready and synced == [1]
    assert client.health.parts()[0].state == health.OK
    client.stopService()


def test_without_fullybooted_it_goes_on_after_the_timeout() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, fully_booted_timeout=5)
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport, booted=False)
    assert not client.ready
    clock.advance(5)
    assert client.ready
    client.stopService()


def test_wrong_secret_backs_off_exponentially_with_a_cap() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, max_backoff=30)
    client.startService()
    delays = []
    for _ in range(8):
        proto, transport = endpoint.accept()
        proto.dataReceived(BANNER)
        reply(
            proto,
            transport,
            "Response: Error\r\nActionID: {id}\r\nMessage: Authentication failed\r\n\r\n",
        )
        assert transport.disconnecting  # the rejected connection is closed by us
        proto.connectionLost(Failure(ConnectionError("closed by Asterisk")))  # no NoTransition
        before = len(endpoint.attempts)
        waited = 0.0
        while len(endpoint.attempts) == before:
            clock.advance(0.25)
            waited += 0.25
            assert waited <= 31, "no retry within the cap"
        delays.append(waited)
    assert delays[0] >= 1.0  # never a tight loop
    assert delays[1] > delays[0] and delays[2] > delays[1]
    assert max(delays) <= 30.25
    assert "login to 127.0.0.1:5038 failed" in client.health.parts()[0].detail
    assert not client.ready
    client.stopService()


def test_lost_connection_reconnects_and_resyncs() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, fully_booted_timeout=1)
    resyncs = []

    async def hook(c: AMIClient, proto: Any) -> None:
        resyncs.append(proto)

    client.add_resync_hook(hook)
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport)
    assert client.ready
    proto.connectionLost(Failure(ConnectionError("Asterisk restarted")))
    assert not client.ready
    assert client.health.parts()[0].state == health.DEGRADED
    clock.advance(2)
    proto2, transport2 = endpoint.accept()
    login_ok(proto2, transport2)
    assert client.ready and client.connects == 2 and len(resyncs) == 2
    client.stopService()


def test_unanswered_ping_drops_the_connection() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, ping_interval=20)
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport)
    transport.clear()
    clock.advance(20)
    assert b"Action: Ping" in transport.value()
    clock.advance(10)  # no Pong
    assert transport.disconnecting
    client.stopService()


def test_events_reach_subscribers_and_others_are_filtered() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    got: list[str] = []
    client.subscribe(["Hangup", "Newchannel"], lambda m: got.append(m.event or ""))
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport)
    proto.dataReceived(b"Event: VarSet\r\nValue: x\r\n\r\nEvent: Hangup\r\nCause: 16\r\n\r\n")
    assert got == ["Hangup"]
    assert proto.parser.skipped_events == 1
    client.stopService()
