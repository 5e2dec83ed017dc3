"""The reconnecting AMI client on a fake clock and an endpoint the test controls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.error import (
    ConnectionDone,
    ConnectionRefusedError,
    DNSLookupError,
    TCPTimedOutError,
    TimeoutError,
)
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from drivers import health
from drivers.asterisk.ami.client import AMIClient, AmiSettings
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
    cfg = AmiSettings("127.0.0.1", 5038, "ccbox", "s3cret")
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
    [part] = client.health.parts()
    assert part.state == health.DOWN
    assert part.detail == "login failed: Authentication failed (127.0.0.1:5038); retrying"
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
    [part] = client.health.parts()
    assert part.state == health.DOWN
    assert part.detail == "connection lost: Asterisk restarted (127.0.0.1:5038); reconnecting"
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
    proto.connectionLost(Failure(ConnectionError("aborted")))
    assert client.health.get("ami").detail.startswith("no answer to Ping")  # type: ignore[union-attr]
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


# ---- each attempt's outcome, on the health part and in our log --------------------------------


class Logged:
    """Our own log lines (namespace ccbox.ami) while the test runs."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Logged:
        globalLogPublisher.addObserver(self.events.append)
        return self

    def __exit__(self, *exc: object) -> None:
        globalLogPublisher.removeObserver(self.events.append)

    def lines(self) -> list[str]:
        return [formatEvent(e) for e in self.events if e.get("log_namespace") == "ccbox.ami"]


def next_attempt(clock: Clock, endpoint: Endpoint) -> None:
    before = len(endpoint.attempts)
    for _ in range(200):
        if len(endpoint.attempts) > before:
            return
        clock.advance(0.5)
    raise AssertionError("no retry")


def test_a_refused_connect_is_down_with_the_reason_and_logged_once_a_minute() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, max_backoff=2)
    with Logged() as logged:
        client.startService()
        for _ in range(40):  # two seconds apart: 80 s of refusals
            endpoint.attempts[-1][1].errback(Failure(ConnectionRefusedError("refused")))
            part = client.health.get("ami")
            assert part is not None and part.state == health.DOWN
            assert part.detail == "connection refused (127.0.0.1:5038); retrying"
            next_attempt(clock, endpoint)
        client.stopService()
    refused = [line for line in logged.lines() if "connection refused" in line]
    assert 2 <= len(refused) <= 3, refused  # the first, then once a minute, not 40
    assert "more attempts since" in refused[1]
    assert client.attempts.failures == 40


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        ("close at once", "closed before the banner"),
        ("close after the banner", "closed before login"),
        ("no banner", "timed out: no banner within 10 s"),
        ("no answer to Login", "timed out: no answer to Login within 10 s"),
        ("not Asterisk", "not an Asterisk manager: 'SSH-2.0-OpenSSH_9.2'"),
        ("close after login", "closed after login"),
        ("close in the resync", "closed during the resync"),
    ],
)
def test_an_accepted_connection_that_fails_says_at_which_step(step: str, reason: str) -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)

    async def resync(c: AMIClient, proto: Any) -> None:
        await proto.send_list_action("CoreShowChannels")

    client.add_resync_hook(resync)
    client.startService()
    assert client.health.get("ami").state == health.STARTING  # type: ignore[union-attr]
    proto, transport = endpoint.accept()
    gone = Failure(ConnectionDone("closed by the peer"))
    if step == "close at once":
        proto.connectionLost(gone)
    elif step == "close after the banner":
        proto.dataReceived(BANNER)
        proto.connectionLost(gone)
    elif step in ("no banner", "no answer to Login"):
        if step == "no answer to Login":
            proto.dataReceived(BANNER)
        clock.advance(10)
        assert transport.disconnecting
    elif step == "not Asterisk":
        proto.dataReceived(b"SSH-2.0-OpenSSH_9.2\r\n")
        assert transport.disconnecting
    elif step == "close after login":
        login_ok(proto, transport, booted=False)
        proto.connectionLost(gone)
    else:
        login_ok(proto, transport)
        proto.connectionLost(gone)
    part = client.health.get("ami")
    assert part is not None and part.state == health.DOWN, part
    assert part.detail == f"{reason} (127.0.0.1:5038); retrying"
    assert not client.ready
    # The next attempt succeeds: ok again.
    next_attempt(clock, endpoint)
    proto2, transport2 = endpoint.accept()
    login_ok(proto2, transport2)
    reply(
        proto2,
        transport2,
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n"
        "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n",
    )
    assert client.ready
    assert client.health.get("ami").state == health.OK  # type: ignore[union-attr]
    client.stopService()


def test_retries_keep_the_last_outcome_not_starting() -> None:
    """While the next attempt logs in, the part still says why the last one failed."""
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    client.startService()
    proto, _ = endpoint.accept()
    proto.connectionLost(Failure(ConnectionDone("closed")))
    next_attempt(clock, endpoint)
    proto2, _ = endpoint.accept()
    proto2.dataReceived(BANNER)
    part = client.health.get("ami")
    assert part is not None and part.state == health.DOWN
    assert part.detail.startswith("closed before the banner")
    client.stopService()


def test_asterisk_down_is_retried_every_few_seconds_and_a_refused_login_slowly() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint, max_retry_delay=3, max_backoff=30)
    client.startService()

    def delay_after(fail: Callable[[], None]) -> float:
        fail()
        before, waited = len(endpoint.attempts), 0.0
        while len(endpoint.attempts) == before:
            clock.advance(0.25)
            waited += 0.25
        return waited

    def refuse() -> None:
        endpoint.attempts[-1][1].errback(Failure(ConnectionRefusedError("refused")))

    def wrong_secret() -> None:
        proto, transport = endpoint.accept()
        proto.dataReceived(BANNER)
        reply(proto, transport, "Response: Error\r\nActionID: {id}\r\nMessage: Auth\r\n\r\n")
        proto.connectionLost(Failure(ConnectionDone("closed")))

    refused = [delay_after(refuse) for _ in range(8)]
    assert refused == [1.0, 2.0] + [3.0] * 6  # 0.5 s doubled per failed attempt, capped
    denied = [delay_after(wrong_secret) for _ in range(8)]
    assert max(denied) == 30.0
    client.stopService()


def test_only_our_lines_say_the_outcome_not_one_per_retry() -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    with Logged() as logged:
        client.startService()
        for _ in range(10):
            endpoint.attempts[-1][1].errback(Failure(ConnectionRefusedError("refused")))
            next_attempt(clock, endpoint)
        client.stopService()
    text = [formatEvent(e) for e in logged.events]
    assert not [t for t in text if "Scheduling retry" in t], text
    assert len([t for t in text if "connection refused; retrying" in t]) == 1


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConnectionRefusedError("x"), "connection refused"),
        (TCPTimedOutError("x"), "timed out connecting"),
        (TimeoutError("x"), "timed out connecting"),
        (DNSLookupError("asterisk.local"), "host name not found"),
        (OSError("Network is unreachable"), "cannot connect: Network is unreachable"),
    ],
)
def test_connect_failures_are_named(error: Exception, reason: str) -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    client.startService()
    endpoint.attempts[-1][1].errback(Failure(error))
    assert client.health.get("ami").detail == f"{reason} (127.0.0.1:5038); retrying"  # type: ignore[union-attr]
    client.stopService()


@pytest.mark.parametrize(
    ("restart", "reason"), [("True", "Asterisk restarting"), ("False", "Asterisk shut down")]
)
def test_a_shutdown_event_names_why_the_connection_went(restart: str, reason: str) -> None:
    clock, endpoint = Clock(), Endpoint()
    client = make(clock, endpoint)
    client.startService()
    proto, transport = endpoint.accept()
    login_ok(proto, transport)
    proto.dataReceived(
        f"Event: Shutdown\r\nPrivilege: system,all\r\nShutdown: Cleanly\r\n"
        f"Restart: {restart}\r\n\r\n".encode()
    )
    proto.connectionLost(Failure(ConnectionDone("closed")))
    part = client.health.get("ami")
    assert part is not None and part.state == health.DOWN
    assert part.detail == f"{reason} (127.0.0.1:5038); reconnecting"
    client.stopService()
