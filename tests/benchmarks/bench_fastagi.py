"""FastAGI round trips per second: 200 concurrent simulated calls against our server.

Baseline, measured in the same run: a bare Twisted line ping-pong over loopback with the
same number of connections and exchanges: what the transport alone allows.
"""

from __future__ import annotations

import time
from typing import Any

from twisted.internet import defer, protocol, task
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.protocols.basic import LineOnlyReceiver

from drivers.asterisk.agi.server import FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol
from drivers.asterisk.simulator.agi_caller import CallerScript
from drivers.asterisk.simulator.traffic import place_calls
from tests.benchmarks.harness import Result

SESSIONS = 200
COMMANDS = 50  # per session


async def _route(session: AGISessionProtocol) -> None:
    for _ in range(COMMANDS):
        await session.get_variable("CCBOX_BENCH")
    await session.hangup()


async def agi_rate(reactor: Any) -> float:
    port = reactor.listenTCP(0, FastAGIFactory(reactor, {"inbound": _route}), interface="127.0.0.1")
    try:
        start = time.perf_counter()
        summary = await place_calls(
            reactor, "127.0.0.1", port.getHost().port, SESSIONS, SESSIONS, lambda i: CallerScript()
        )
        elapsed = time.perf_counter() - start
    finally:
        await port.stopListening()
    assert summary.completed == SESSIONS, summary
    # the route's commands, its HANGUP and the session mark the server sends first
    return SESSIONS * (COMMANDS + 2) / elapsed


class _Echo(LineOnlyReceiver):
    delimiter = b"\n"

    def lineReceived(self, line: bytes) -> None:
        self.sendLine(b"200 result=1 (x)")


class _Pinger(LineOnlyReceiver):
    delimiter = b"\n"

    def __init__(self) -> None:
        self.left = COMMANDS + 1
        self.done: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.sendLine(b"GET VARIABLE CCBOX_BENCH")

    def lineReceived(self, line: bytes) -> None:
        self.left -= 1
        if self.left:
            self.sendLine(b"GET VARIABLE CCBOX_BENCH")
        else:
            self.transport.loseConnection()  # type: ignore[union-attr]
            self.done.callback(None)


async def echo_rate(reactor: Any) -> float:
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(_Echo), interface="127.0.0.1")
    try:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        start = time.perf_counter()
        pingers = [_Pinger() for _ in range(SESSIONS)]
        await defer.gatherResults([connectProtocol(endpoint, p) for p in pingers])
        await defer.gatherResults([p.done for p in pingers])
        elapsed = time.perf_counter() - start
    finally:
        await port.stopListening()
    # the route's commands, its HANGUP and the session mark the server sends first
    return SESSIONS * (COMMANDS + 2) / elapsed


def run() -> list[Result]:
    out: dict[str, float] = {}

    async def main(reactor: Any) -> None:
        out["echo"] = max([await echo_rate(reactor) for _ in range(3)])
        out["agi"] = max([await agi_rate(reactor) for _ in range(3)])

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as exc:
        if exc.code:
            raise
    return [
        Result(
            "fastagi round trips (200 sessions)",
            out["agi"],
            "commands/s",
            "twisted line ping-pong, same connections",
            out["echo"],
            better="higher",
        )
    ]
