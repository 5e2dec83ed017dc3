"""How Asterisk's manager reads an action: line by line, with its limits (main/manager.c).

``get_input`` keeps 1,024 bytes (``inbuf``): a line whose end is not among them is cut,
all but its last byte thrown away, and the rest read as the next line; ``do_message`` keeps
at most AST_MAX_MANHEADERS (128) lines of a message. At the message's empty line the
action is refused rather than run: "Too many lines in message or allocation failure" first,
else "Failed to parse message: line too long" (that mark stays until it is reported). A
message without an Action, an empty line included, is "Missing action in request"
(``process_message``). A line of 1,023 bytes and its CR fill the buffer: the CR is kept, and
with the LF that follows makes an empty line, which ends the message early (checked
against Asterisk 22.10.1: the action is refused, then its own empty line is refused too).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from drivers.asterisk.ami.codec import (
    ASTERISK_MAX_HEADERS,
    ASTERISK_MAX_LINE_BYTES,
    Message,
    parse_block,
)

TOO_MANY_LINES = "Too many lines in message or allocation failure"
LINE_TOO_LONG = "Failed to parse message: line too long"
MISSING_ACTION = "Missing action in request"


@dataclass(frozen=True)
class Request:
    """One action as the manager read it; ``refused`` is the error it answers instead."""

    message: Message
    refused: str | None = None


class ManagerInput:
    """Feed bytes; get back each action read, or refused, as Asterisk reads it."""

    def __init__(self) -> None:
        self._buf = b""
        self._lines: list[bytes] = []
        self._lost_lines = False
        self._line_too_long = False

    def feed(self, data: bytes) -> Iterator[Request]:
        self._buf += data
        while True:
            end = self._buf.find(b"\n")
            if end < 0 or end >= ASTERISK_MAX_LINE_BYTES:
                if len(self._buf) < ASTERISK_MAX_LINE_BYTES:
                    return
                # No line end in a full buffer: keep the last byte (maybe a CR of a CRLF).
                self._buf = self._buf[ASTERISK_MAX_LINE_BYTES - 1 :]
                self._line_too_long = True
                continue
            line = self._buf[:end]
            self._buf = self._buf[end + 1 :]
            if line.endswith(b"\r"):
                line = line[:-1]
            if line:
                if len(self._lines) < ASTERISK_MAX_HEADERS:
                    self._lines.append(line)
                else:
                    self._lost_lines = True
                continue
            yield self._message_end()

    def _message_end(self) -> Request:
        lines, self._lines = self._lines, []
        msg, _bad = parse_block(b"\r\n".join(lines))
        if self._lost_lines:
            self._lost_lines = False
            return Request(msg, TOO_MANY_LINES)
        if self._line_too_long:
            self._line_too_long = False
            return Request(msg, LINE_TOO_LONG)
        if not (msg.get("Action") or "").strip():
            return Request(msg, MISSING_ACTION)
        return Request(msg)
