"""A simulated front panel: the LCD's screen in memory, its LEDs, and keys a test presses.

It speaks the panel's side of docs/front-panel-protocol.md on a PtyLink's master: says
``HELLO`` when plugged in, executes ``CLR``/``TXT``/``LED``, answers ``PING`` and
``INFO``, counts the
commands it could not read, and sends ``KEY`` lines from ``press``. ``screen`` is what a
person standing at the box would read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from drivers.serial.front_panel import LED_MODES, MAX_LINE, MalformedLine, unescape


class SimulatedPanel(Protocol):
    """The panel's firmware, in the test's reactor."""

    def __init__(
        self, rows: int = 4, cols: int = 20, *, model: str = "LCD4x20", firmware: str = "1.0"
    ) -> None:
        self.rows = rows
        self.cols = cols
        self.model = model
        self.firmware = firmware
        self.screen = [" " * cols for _ in range(rows)]
        self.leds: dict[int, str] = {}
        self.received: list[str] = []  # every command line, in order
        self.errors: list[str] = []  # the lines it could not execute
        self.answer_pings = True
        self.on_line: Callable[[str], None] | None = None  # a test's hook after each line
        self._buffer = b""

    # ---- the wire --------------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.say(f"HELLO {self.model} {self.firmware}")

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while b"\n" in self._buffer:
            raw, self._buffer = self._buffer.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("ascii", "replace")
            self.received.append(line)
            try:
                self._execute(line)
            except MalformedLine as exc:
                self.errors.append(f"{line[:MAX_LINE]}: {exc}")
            if self.on_line is not None:
                self.on_line(line)
            if self.transport is None:
                break  # unplugged by the hook: the rest never arrived

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.transport = None

    def say(self, line: str) -> None:
        if self.transport is not None:
            cast(Any, self.transport).write(line.encode("ascii") + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        """Whatever bytes a test wants the box to read (noise, a half line)."""
        if self.transport is not None:
            cast(Any, self.transport).write(data)

    # ---- what a person does ----------------------------------------------------------------

    def press(self, key: str) -> None:
        self.say(f"KEY {key.upper()}")

    @property
    def text(self) -> str:
        """The screen as lines, trailing blanks dropped (easier to compare in a test)."""
        return "\n".join(row.rstrip() for row in self.screen)

    # ---- the commands ------------------------------------------------------------------------

    def _execute(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == "CLR" and not rest:
            self.screen = [" " * self.cols for _ in range(self.rows)]
        elif word == "TXT":
            row_s, col_s, *value = rest.split(" ", 2)
            if not (row_s.isdigit() and col_s.isdigit()):
                raise MalformedLine("TXT needs a row and a column")
            row, col = int(row_s), int(col_s)
            if row >= self.rows or col >= self.cols:
                raise MalformedLine(f"no cell at row {row}, column {col}")
            shown = unescape(value[0] if value else "")[: self.cols - col]
            old = self.screen[row]
            self.screen[row] = old[:col] + shown + old[col + len(shown) :]
        elif word == "LED":
            n, _, mode = rest.partition(" ")
            if not n.isdigit() or mode not in LED_MODES:
                raise MalformedLine("LED needs a number and on, off or blink")
            self.leds[int(n)] = mode
        elif word == "PING" and not rest:
            if self.answer_pings:
                self.say("PONG")
        elif word == "INFO" and not rest:
            self.say(f"INFO {self.model} {self.firmware}")
        else:
            raise MalformedLine("unknown command")
