"""A FastAGI peer that stops reading, on a real loopback socket: the session's outgoing
bytes stay at one command (commands go out one at a time, each after the last reply), the
reactor keeps its heartbeat, other sessions are served, and the stalled one ends at its
command's timeout instead of holding its socket for ever."""

from __future__ import annotations

import gc
import itertools
import socket
from typing import Any

from twisted.internet import defer, protocol, reactor, task
from twisted.trial import unittest

from drivers.asterisk.agi.server import FastAGIFactory
from drivers.asterisk.agi.session import AGISessionProtocol, AGITimeout
from tests.unit.test_agi_header import header

COMMANDS = 2000  # what the route asks for at once: 2,000 x 4 KB would be 8 MB if all went out
ARG = "x" * 4000


class AsteriskLike(protocol.Protocol):
    """Sends the header, then answers every command line with ``200 result=1``."""

    def connectionMade(self) -> None:
        self.transport.write(header(uniqueid="1795353349.99"))  # type: ignore[union-attr]
        self.buf = b""
        self.done: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            _, self.buf = self.buf.split(b"\n", 1)
            self.transport.write(b"200 result=1\n")  # type: ignore[union-attr]

    def connectionLost(self, reason: Any = None) -> None:
        self.done.callback(None)


def _buffered(session: AGISessionProtocol) -> int:
    """Bytes the session's transport holds, not yet taken by the kernel."""
    t: Any = session.transport
    return len(t.dataBuffer) - t.offset + sum(len(x) for x in t._tempDataBuffer)


class StalledPeerTests(unittest.TestCase):
    async def test_a_peer_that_stops_reading_holds_one_command_and_blocks_no_one(self) -> None:
        outcomes: dict[str, Any] = {}
        sessions: list[AGISessionProtocol] = []

        async def route(s: AGISessionProtocol) -> None:
            assert s.env is not None
            sessions.append(s)
            pending = [s.command("VERBOSE", f'"{ARG}"', "1", timeout=2.0) for _ in range(COMMANDS)]
            results = await defer.DeferredList(pending, consumeErrors=True)
            outcomes[s.env.uniqueid] = results

        factory = FastAGIFactory(reactor, {"inbound": route})
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        number = port.getHost().port

        # The stalled peer: a plain socket with a tiny receive buffer that sends the header
        # and the mark's reply, then never reads again.
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.addCleanup(stalled.close)
        stalled.connect(("127.0.0.1", number))
        stalled.sendall(header() + b"200 result=1\n")

        # The heartbeat measures this test's reactor, not the interpreter's collector (a full
        # collection over the heap of a worker that ran a thousand tests before is long).
        gc.collect()
        gc.disable()
        self.addCleanup(gc.enable)
        ticks: list[float] = []
        beat = task.LoopingCall(lambda: ticks.append(reactor.seconds()))  # type: ignore[attr-defined]
        beat.start(0.01)
        self.addCleanup(lambda: beat.running and beat.stop())
        await task.deferLater(reactor, 0.5, lambda: None)
        assert len(sessions) == 1
        high = _buffered(sessions[0])
        assert high <= len(ARG) + 100, high  # one command, not 2,000 of them

        # Meanwhile a peer that does read is served to the end.
        served = protocol.ClientCreator(reactor, AsteriskLike)
        peer = await served.connectTCP("127.0.0.1", number)
        await peer.done
        results = outcomes["1795353349.99"]
        assert len(results) == COMMANDS and all(ok for ok, _ in results)

        # The stalled session ends at its command's timeout, and its socket is closed.
        await task.deferLater(reactor, 2.5, lambda: None)
        stalled_results = outcomes[sessions[0].env.uniqueid if sessions[0].env else ""]
        assert stalled_results[0][1].check(AGITimeout)
        assert factory.sessions == set()
        gaps = [b - a for a, b in itertools.pairwise(ticks)]
        # the reactor never stalled: a write that blocked on the full socket would stall it
        # for ever (the stalled peer never reads), so 1.5 s tells that apart from a busy CI
        # machine's scheduling (0.53 s once with 0.5 s as the bound)
        assert max(gaps) < 1.5, max(gaps)
