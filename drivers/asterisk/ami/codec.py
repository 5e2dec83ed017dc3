"""AMI, sans-IO: bytes in, messages out; actions in, bytes out. No sockets here.

Framing follows Asterisk 22 (see shared/asterisk-traces/PROTOCOL.md): a banner line, then
messages of ``Key: value`` lines ended by an empty line; lines end in CRLF (bare LF
accepted). Headers are an ordered multimap (``Variable:``/``Output:`` repeat). Messages are
filtered by event name before their headers are split, because most of a call's traffic
(VarSet, Newexten, ...) is never needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import overload

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADERS = 512
_BOUNDARY = re.compile(rb"\r?\n\r?\n")
_HEADER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


class ProtocolError(Exception):
    """The peer broke the framing beyond recovery: drop the connection."""


class InjectionError(ValueError):
    """An action header would have smuggled a line (CR/LF/NUL) into the stream."""


@dataclass(frozen=True, slots=True)
class Message:
    """One AMI message. Header lookup is case-insensitive, like Asterisk's own."""

    headers: tuple[tuple[str, str], ...]

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (Asterisk reads the first of duplicates)."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @property
    def event(self) -> str | None:
        return self.get("Event")

    @property
    def response(self) -> str | None:
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def as_dict(self) -> dict[str, str]:
        """First value per header name (for logs and simple lookups)."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out


def _text(raw: bytes) -> str:
    # Invalid UTF-8 becomes U+FFFD; NUL never reaches the rest of the program.
    return raw.decode("utf-8", "replace").replace("\x00", "\ufffd")


def parse_block(block: bytes) -> tuple[Message, int]:
    """One message's bytes (no terminator) -> (message, number of malformed lines skipped)."""
    headers: list[tuple[str, str]] = []
    bad = 0
    for line in block.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        key, sep, value = line.partition(b":")
        if not sep or not key or len(headers) >= MAX_HEADERS:
            bad += 1
            continue
        if value.startswith(b" "):
            value = value[1:]
        headers.append((_text(key.strip()), _text(value)))
    return Message(tuple(headers)), bad


class Parser:
    """Feed bytes; get back complete messages.

    ``wanted_events``: when given, events whose name is not in it are dropped before their
    headers are parsed. Responses, and events that carry an ActionID (list items,
    OriginateResponse, UserEvent), are always parsed: the protocol needs them.
    """

    def __init__(
        self,
        wanted_events: Iterable[str] | None = None,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.wanted: frozenset[bytes] | None = (
            frozenset(e.encode() for e in wanted_events) if wanted_events is not None else None
        )
        self.max_message_bytes = max_message_bytes
        self.banner: str | None = None
        self.malformed_lines = 0
        self.skipped_events = 0
        self._buf = b""

    def feed(self, data: bytes) -> list[Message]:
        return list(self.iter_feed(data))

    def iter_feed(self, data: bytes) -> Iterator[Message]:
        buf = self._buf + data if self._buf else data
        if self.banner is None:
            end = buf.find(b"\n")
            if end < 0:
                self._check_size(buf)
                self._buf = buf
                return
            self.banner = _text(buf[:end].rstrip(b"\r"))
            buf = buf[end + 1 :]
        pos = 0
        wanted = self.wanted
        for m in _BOUNDARY.finditer(buf):
            block = buf[pos : m.start()]
            pos = m.end()
            if not block.strip():
                continue  # empty messages ("\r\n\n" after a list) are ignored
            if len(block) > self.max_message_bytes:
                raise ProtocolError(f"message of {len(block)} bytes exceeds the limit")
            if wanted is not None and block.startswith(b"Event: "):
                eol = block.find(b"\n")
                name = (block[7:eol] if eol >= 0 else block[7:]).rstrip(b"\r")
                if name not in wanted and b"\nActionID: " not in block:
                    self.skipped_events += 1
                    continue
            msg, bad = parse_block(block)
            self.malformed_lines += bad
            yield msg
        rest = buf[pos:]
        self._check_size(rest)
        self._buf = rest

    def _check_size(self, pending: bytes) -> None:
        if len(pending) > self.max_message_bytes:
            raise ProtocolError(
                f"{len(pending)} bytes without a message end (limit {self.max_message_bytes})"
            )


def encode_action(action: str, headers: Iterable[tuple[str, str]], action_id: str) -> bytes:
    """The bytes of one action. Refuses any CR, LF or NUL in a name or value (AMI injection)."""
    lines = []
    for key, value in (("Action", action), ("ActionID", action_id), *headers):
        if not _HEADER_NAME.match(key):
            raise InjectionError(f"bad AMI header name {key!r}")
        if not isinstance(value, str):
            raise InjectionError(f"header {key} must be text, not {type(value).__name__}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise InjectionError(f"header {key} contains CR, LF or NUL: refused")
        lines.append(f"{key}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


_C_ESCAPES = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "\\": "\\",
    "'": "'",
    '"': '"',
    "?": "?",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unescape(value: str) -> str:
    """Undo Asterisk's C-escaping of CallerIDName, ConnectedLineName and variable values."""
    if "\\" not in value:
        return value
    return _ESCAPED.sub(lambda m: _C_ESCAPES.get(m.group(1), m.group(0)), value)
