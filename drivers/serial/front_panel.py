"""The front panel's line protocol (docs/front-panel-protocol.md): bytes in, events out.

The panel is a character LCD with four keys on a serial port. The box sends ``CLR``,
``TXT <row> <col> <text>``, ``LED <n> <on|off|blink>``, ``PING`` and ``INFO``; the panel
sends ``KEY <name>``, ``PONG``, ``INFO <model> <fw>`` and ``HELLO <model> <fw>`` when it
powers up. Lines are ASCII and
end in CR LF. No business rule lives here: what the screen says is the appliance's
(appliance/hardware/front_panel.py).

A line from the panel that is not one of those (an unknown word, a bad key name, bytes
outside printable ASCII, longer than ``MAX_LINE``) is ignored and handed to the listener's
``malformed`` so it is counted and logged: line noise on a serial cable must never stop the
box, nor be taken for a key press.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from typing import Protocol as TypingProtocol

from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped]

MAX_LINE = 80  # bytes before CR LF, both ways
KEYS = ("up", "down", "ok", "back")
LED_MODES = ("on", "off", "blink")
MAX_LEDS = 8
MAX_ROWS = 4
MAX_COLS = 40


class MalformedLine(ValueError):
    """A panel line that is not part of the protocol; the text says why."""


@dataclass(frozen=True)
class Key:
    name: str  # one of KEYS


@dataclass(frozen=True)
class Pong:
    pass


@dataclass(frozen=True)
class Hello:
    """The panel (re)started: its screen is blank, whatever the box last drew."""

    model: str
    firmware: str


@dataclass(frozen=True)
class Info:
    """The panel's answer to ``INFO``: what it is (its screen is as it was)."""

    model: str
    firmware: str


PanelEvent = Key | Pong | Hello | Info


def parse_line(line: bytes) -> PanelEvent:
    """One line from the panel (without its CR LF) -> its event, or MalformedLine."""
    if len(line) > MAX_LINE:
        raise MalformedLine(f"longer than {MAX_LINE} bytes")
    if any(b < 0x20 or b > 0x7E for b in line):
        raise MalformedLine("not printable ASCII")
    word, _, rest = line.decode("ascii").partition(" ")
    if word == "KEY":
        name = rest.strip().lower()
        if name not in KEYS:
            raise MalformedLine(f"unknown key {rest.strip()[:20]!r}")
        return Key(name)
    if word == "PONG" and not rest.strip():
        return Pong()
    if word in ("HELLO", "INFO"):
        parts = rest.split()
        if len(parts) != 2 or any(len(p) > 32 for p in parts):
            raise MalformedLine(f"{word} needs a model and a firmware version")
        return Hello(parts[0], parts[1]) if word == "HELLO" else Info(parts[0], parts[1])
    raise MalformedLine(f"unknown line {word[:20]!r}")


def escape(text: str) -> str:
    """Text for ``TXT``: printable ASCII as is, a backslash doubled, anything else ``?``
    (a character LCD's ROM has no other glyphs; ``\\xHH`` is the escape for its own)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


def unescape(text: str) -> str:
    """The panel's side of ``escape``: ``\\\\`` and ``\\xHH`` (a glyph code) decoded."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and text[i + 1 : i + 2] == "\\":
            out.append("\\")
            i += 2
        elif ch == "\\" and text[i + 1 : i + 2] == "x" and len(text) >= i + 4:
            try:
                out.append(chr(int(text[i + 2 : i + 4], 16)))
            except ValueError:
                raise MalformedLine(f"bad escape {text[i : i + 4]!r}") from None
            i += 4
        elif ch == "\\":
            raise MalformedLine("a lone backslash")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def clear() -> bytes:
    return b"CLR\r\n"


def text(row: int, col: int, value: str) -> bytes:
    """Write ``value`` at (row, col), 0-based; the panel clips it at the row's end."""
    if not (0 <= row < MAX_ROWS and 0 <= col < MAX_COLS):
        raise ValueError(f"no cell at row {row}, column {col}")
    head = f"TXT {row} {col} "
    body = ""
    for ch in value[: MAX_COLS - col]:
        escaped = escape(ch)
        if len(head) + len(body) + len(escaped) > MAX_LINE:
            break
        body += escaped
    return (head + body).encode("ascii") + b"\r\n"


def led(number: int, mode: str) -> bytes:
    if not 0 <= number < MAX_LEDS or mode not in LED_MODES:
        raise ValueError(f"no LED {number} {mode}")
    return f"LED {number} {mode}\r\n".encode("ascii")


def ping() -> bytes:
    return b"PING\r\n"


def info() -> bytes:
    """Ask what the panel is (its HELLO at power-up is lost when the box opens the port
    later: the port's input is flushed at open)."""
    return b"INFO\r\n"


class PanelListener(TypingProtocol):
    """What the protocol tells (the front panel service)."""

    def panel_connected(self, protocol: FrontPanelProtocol) -> None: ...

    def panel_event(self, event: PanelEvent) -> None: ...

    def malformed(self, reason: str, line: bytes) -> None: ...

    def panel_lost(self, protocol: FrontPanelProtocol) -> None: ...


@implementer(IPushProducer)
class FrontPanelProtocol(Protocol):
    """One connection to the panel: splits lines, parses them, writes commands.

    A key redraws rows, so a panel that floods keys (a stuck key at line rate) makes more
    bytes out than in: once the port's unsent output passes its buffer size the panel is
    not read (it waits in the kernel's tty buffer) until that output has drained, so the
    box's memory stays bounded. The protocol is the port's streaming producer for that.
    """

    def __init__(self, listener: PanelListener) -> None:
        self.listener = listener
        self._buffer = b""
        self._discarding = False  # inside a line already found too long

    def connectionMade(self) -> None:
        cast(Any, self.transport).registerProducer(self, True)
        self.listener.panel_connected(self)

    def pauseProducing(self) -> None:
        """The output backed up: stop reading the panel's lines for now."""
        cast(Any, self.transport).pauseProducing()

    def resumeProducing(self) -> None:
        """The output drained: read the panel again (or, when the port is being closed, let
        it close: a port does not close while its producer is registered)."""
        transport = cast(Any, self.transport)
        if transport.disconnecting:
            transport.unregisterProducer()
        else:
            transport.resumeProducing()

    def stopProducing(self) -> None:
        """The port closed: nothing to do (connectionLost follows)."""

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            if self._discarding:
                self._discarding = False
                continue
            self._line(line[:-1] if line.endswith(b"\r") else line)
        if len(self._buffer) > MAX_LINE + 1 and not self._discarding:
            # no end in sight: count it once and drop everything up to the next line end
            self.listener.malformed(f"longer than {MAX_LINE} bytes", self._buffer[:MAX_LINE])
            self._discarding = True
        if self._discarding:
            self._buffer = b""

    def _line(self, line: bytes) -> None:
        if not line:
            return  # a blank line (a bare CR LF after a power glitch) is not an error
        try:
            event = parse_line(line)
        except MalformedLine as exc:
            self.listener.malformed(str(exc), line[:MAX_LINE])
            return
        self.listener.panel_event(event)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            cast(Any, self.transport).write(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.listener.panel_lost(self)
