"""The AMI client against a refusing manager on a real loopback socket."""

from __future__ import annotations

from typing import Any

from twisted.internet import protocol, reactor, task
from twisted.logger import globalLogPublisher
from twisted.trial import unittest

from drivers.asterisk.ami.client import AMIClient, AmiSettings


class RefusingManager(protocol.Protocol):
    """Like Asterisk with a wrong secret: banner, 'Authentication failed', then close."""

    def connectionMade(self) -> None:
        self.factory.connections += 1  # type: ignore[attr-defined]
        self.transport.write(b"Asterisk Call Manager/11.0.0\r\n")  # type: ignore[union-attr]
        self.buf = b""

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf and b"Action: Login" in self.buf:
            aid = self.buf.split(b"ActionID: ")[1].split(b"\r\n")[0]
            self.transport.write(  # type: ignore[union-attr]
                b"Response: Error\r\nActionID: "
                + aid
                + b"\r\nMessage: Authentication failed\r\n\r\n"
            )
            reactor.callLater(0.05, self.transport.loseConnection)  # type: ignore[union-attr,attr-defined]


class LoopbackTests(unittest.TestCase):
    async def test_refused_login_retries_with_backoff_and_logs_no_unhandled_error(self) -> None:
        factory = protocol.Factory.forProtocol(RefusingManager)
        factory.connections = 0  # type: ignore[attr-defined]
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")  # type: ignore[attr-defined]
        self.addCleanup(port.stopListening)
        logged: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(logged.append)
        self.addCleanup(globalLogPublisher.removeObserver, logged.append)

        client = AMIClient(
            reactor,
            AmiSettings("127.0.0.1", port.getHost().port, "ccbox", "wrong"),
            jitter=lambda: 0.0,
        )
        client.startService()
        await task.deferLater(reactor, 2.5, lambda: None)
        await client.stopService()
        # 1 s then 2 s of backoff: two or three attempts in 2.5 s, not a tight loop
        self.assertIn(factory.connections, (2, 3))  # type: ignore[attr-defined]
        self.assertFalse(client.ready)
        failures = [e for e in logged if e.get("log_failure") is not None]
        self.assertEqual(failures, [], [str(e.get("log_failure")) for e in failures])
