"""Just enough of Asterisk for daemon tests: a manager that accepts the login and answers
CoreShowChannels, and a FastAGI caller that plays a header and answers commands.

The full switch simulator (drivers/asterisk/simulator) replaces these for end-to-end runs.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet import defer, protocol

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


class FakeManager(protocol.Protocol):
    def connectionMade(self) -> None:
        self.buf = b""
        self.transport.write(BANNER)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            block, self.buf = self.buf.split(b"\r\n\r\n", 1)
            headers = dict(line.split(": ", 1) for line in block.decode().split("\r\n"))
            aid = headers.get("ActionID", "")
            action = headers.get("Action", "")
            if action == "Login":
                self.send(
                    f"Response: Success\r\nActionID: {aid}\r\n"
                    "Message: Authentication accepted\r\n\r\n"
                    "Event: FullyBooted\r\nPrivilege: system,all\r\n"
                    "Status: Fully Booted\r\n\r\n"
                )
            elif action == "CoreShowChannels":
                self.send(
                    f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                    "Message: Channels will follow\r\n\r\n"
                    f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\n"
                    "EventList: Complete\r\nListItems: 0\r\n\r\n"
                )
            else:
                self.send(f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n")

    def send(self, text: str) -> None:
        self.transport.write(text.encode())  # type: ignore[union-attr]


class FakeAGICaller(protocol.Protocol):
    """Sends ``header``; answers each command line with ``answer(line)``; records lines."""

    def __init__(self, header: bytes, answer: Callable[[str], list[str]]) -> None:
        self.header = header
        self.answer = answer
        self.commands: list[str] = []
        self.closed: defer.Deferred[None] = defer.Deferred()
        self.buf = b""

    def connectionMade(self) -> None:
        self.transport.write(self.header)  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            text = line.decode()
            self.commands.append(text)
            for reply in self.answer(text):
                self.transport.write(reply.encode() + b"\n")  # type: ignore[union-attr]

    def connectionLost(self, reason: object = None) -> None:
        self.closed.callback(None)
