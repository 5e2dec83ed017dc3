"""A raw HTTP client for Server-Sent Events streams over loopback (for tests): it sends one
request and keeps every byte of the answer, so a test sees the status, the headers and
each frame as the server wrote them."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet import defer, protocol, reactor, task


class RawClient(protocol.Protocol):
    """Sends one request and keeps every byte of the answer."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.raw = bytearray()  # a long stream grows it in place
        self.lost: defer.Deferred[None] = defer.Deferred()

    def connectionMade(self) -> None:
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.raw += data

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)

    @property
    def status(self) -> int:
        return int(self.raw.split(b" ", 2)[1]) if b" " in self.raw else 0

    @property
    def headers(self) -> dict[str, str]:
        head = self.raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        pairs = [ln.split(": ", 1) for ln in head.split("\r\n")[1:]]
        return {k.lower(): v for k, v in pairs}

    @property
    def body(self) -> bytes:
        """The body with the chunked framing taken off (an unfinished last chunk is kept)."""
        if b"\r\n\r\n" not in self.raw:
            return b""
        head, rest = self.raw.split(b"\r\n\r\n", 1)
        if b"chunked" not in head.lower():
            return bytes(rest)
        out = b""
        while b"\r\n" in rest:
            size_text, rest = rest.split(b"\r\n", 1)
            size = int(size_text, 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2 :]
        return out

    @property
    def finished(self) -> bool:
        return self.raw.endswith(b"\r\n0\r\n\r\n")

    def frames(self) -> list[dict[str, Any]]:
        """The JSON of every complete frame's ``data:`` lines."""
        out = []
        for block in self.body.split(b"\n\n")[:-1]:
            for line in block.split(b"\n"):
                if line.startswith(b"data: "):
                    out.append(json.loads(line[6:].decode("utf-8")))
        return out

    def events(self) -> list[tuple[str, str, Any]]:
        """(event, id, data) of every complete message; comments and retry lines skipped."""
        out = []
        for block in self.body.split(b"\n\n")[:-1]:
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line and not line.startswith(":"):
                    k, _, v = line.partition(": ")
                    fields[k] = v
            if "event" in fields:
                out.append((fields["event"], fields.get("id", ""), json.loads(fields["data"])))
        return out


async def until(predicate: Any, what: str, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await task.deferLater(reactor, 0.02, lambda: None)
    raise AssertionError(f"timed out waiting for {what}")
