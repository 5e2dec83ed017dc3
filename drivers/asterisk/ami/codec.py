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
from typing import overload

from drivers.asterisk.ami.scan import scan, split_headers

MAX_MESSAGE_BYTES = 64 * 1024
MAX_HEADERS = 512
# What Asterisk's manager reads of one action (main/manager.c, include/asterisk/manager.h):
# a line and its CRLF must fit in the 1,024 bytes of ``inbuf`` (a longer one is cut, its
# tail read as a header of its own, and the action refused with "line too long"); at most
# AST_MAX_MANHEADERS (128) lines, Action and ActionID included (more: "Too many lines").
ASTERISK_MAX_LINE_BYTES = 1024
ASTERISK_MAX_HEADERS = 128
_HEADER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


class ProtocolError(Exception):
    """The peer broke the framing beyond recovery: drop the connection."""


class InjectionError(ValueError):
    """An action header would have smuggled a line (CR/LF/NUL) into the stream."""


class ActionTooLarge(ValueError):
    """An action Asterisk's manager would cut or refuse: a line over 1,024 bytes with its
    CRLF, or more than 128 header lines. Refused before a byte is sent."""


class Message:
    """One AMI message. Header lookup is case-insensitive, like Asterisk's own."""

    __slots__ = ("_index", "headers")

    def __init__(self, headers: tuple[tuple[str, str], ...]) -> None:
        self.headers = headers
        self._index: dict[str, str] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and other.headers == self.headers

    def __hash__(self) -> int:
        return hash(self.headers)

    def __repr__(self) -> str:
        return f"Message({self.headers!r})"

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                index.setdefault(key.lower(), value)  # Asterisk reads the first duplicate
            self._index = index
        return index

    @overload
    def get(self, name: str) -> str | None: ...

    @overload
    def get(self, name: str, default: str) -> str: ...

    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (Asterisk reads the first of duplicates)."""
        return self._lookup().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    @property
    def event(self) -> str | None:
        return self._lookup().get("event")

    @property
    def response(self) -> str | None:
        return self._lookup().get("response")

    @property
    def action_id(self) -> str | None:
        return self._lookup().get("actionid")

    def as_dict(self) -> dict[str, str]:
        """First value per header name (for logs and simple lookups)."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out


def parse_block(block: bytes) -> tuple[Message, int]:
    """One message's bytes (no terminator) -> (message, number of malformed lines skipped).

    Lines that are not ``Key: value`` (or ``Key:value``) are skipped and counted; invalid
    UTF-8 and NUL become U+FFFD (see ``_scan_py.split_headers``).
    """
    headers, bad = split_headers(block, MAX_HEADERS)
    return Message(headers), bad


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
        # One pass finds the message ends and drops unwanted events by name (scan.py: C
        # when built); only the messages kept are decoded and split into headers.
        buf = (self._buf + data) if self._buf else data
        if self.banner is None:
            end = buf.find(b"\n")
            if end < 0:
                self._check_size(buf)
                self._buf = buf
                return
            self.banner = (
                buf[:end].rstrip(b"\r").decode("utf-8", "replace").replace("\x00", "\ufffd")
            )
            buf = buf[end + 1 :]
        blocks, end, skipped, oversize = scan(buf, self.wanted, self.max_message_bytes)
        self.skipped_events += skipped
        rest = buf[end:]
        if oversize or len(rest) > self.max_message_bytes:
            self._buf = b""  # the connection is dropped: keep nothing
        else:
            self._buf = rest
        for block in blocks:
            msg, bad = parse_block(block)
            self.malformed_lines += bad
            yield msg
        if oversize:
            raise ProtocolError(f"message of {oversize} bytes exceeds the limit")
        self._check_size(rest)

    def _check_size(self, pending: bytes) -> None:
        if len(pending) > self.max_message_bytes:
            raise ProtocolError(
                f"{len(pending)} bytes without a message end (limit {self.max_message_bytes})"
            )


def encode_action(action: str, headers: Iterable[tuple[str, str]], action_id: str) -> bytes:
    """The bytes of one action. Refuses any CR, LF or NUL in a name or value (AMI injection),
    and an action Asterisk would cut or refuse (``ActionTooLarge``): a cut line's tail would
    be read as a header of its own."""
    lines = []
    for key, value in (("Action", action), ("ActionID", action_id), *headers):
        if not _HEADER_NAME.match(key):
            raise InjectionError(f"bad AMI header name {key!r}")
        if not isinstance(value, str):
            raise InjectionError(f"header {key} must be text, not {type(value).__name__}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise InjectionError(f"header {key} contains CR, LF or NUL: refused")
        try:
            line = f"{key}: {value}\r\n".encode()
        except UnicodeEncodeError:  # a lone surrogate: JSON's "\ud800" from a web field
            raise InjectionError(f"header {key} is not valid text: refused") from None
        if len(line) > ASTERISK_MAX_LINE_BYTES:
            raise ActionTooLarge(
                f"{action}: header {key} is {len(line)} bytes with its CRLF; Asterisk reads "
                f"at most {ASTERISK_MAX_LINE_BYTES}"
            )
        lines.append(line)
        if len(lines) > ASTERISK_MAX_HEADERS:
            raise ActionTooLarge(
                f"{action}: more than {ASTERISK_MAX_HEADERS} header lines; Asterisk reads "
                f"at most {ASTERISK_MAX_HEADERS}"
            )
    lines.append(b"\r\n")
    return b"".join(lines)


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
