"""A simulated serial watchdog board: armed by the first ``KICK``, reset when fed no more.

The board's side of the "Watchdog board" section of docs/front-panel-protocol.md, on a
PtyLink's master. Its timer runs on the clock it is given, so a test sees a reset happen
(``resets``) when the daemon stops feeding it, and none while it is fed or after ``STOP``.
"""

from __future__ import annotations

from typing import Any, cast

from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure


class SimulatedBoard(Protocol):
    def __init__(
        self, clock: Any, timeout_s: float = 30.0, *, model: str = "WDT1", firmware: str = "1.0"
    ) -> None:
        self.clock = clock
        self.timeout_s = timeout_s
        self.model = model
        self.firmware = firmware
        self.kicks = 0
        self.resets = 0  # times the timer ran out: the box would have been reset
        self.lines: list[str] = []
        self._timer: Any = None
        self._buffer = b""

    @property
    def armed(self) -> bool:
        return self._timer is not None and self._timer.active()

    def connectionMade(self) -> None:
        assert self.transport is not None
        cast(Any, self.transport).write(f"HELLO {self.model} {self.firmware}\r\n".encode("ascii"))

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("ascii", "replace")
            self.lines.append(line)
            if line == "KICK":
                self.kicks += 1
                self._disarm()
                self._timer = self.clock.callLater(self.timeout_s, self._expired)
            elif line == "STOP":
                self._disarm()

    def _disarm(self) -> None:
        if self.armed:
            self._timer.cancel()
        self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self.resets += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.transport = None  # unplugged: a real board keeps counting (its timer runs on)
