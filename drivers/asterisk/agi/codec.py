"""FastAGI, sans-IO: the ``agi_*`` header, command lines out, reply lines in.

Quoting is done here and only here. Asterisk splits a command on spaces, honours ``"``
quotes and ``\\`` escapes, and ends it at LF (a CR would become part of the last
argument), so ``text()`` escapes quotes and backslashes and refuses CR, LF and NUL, and
``token()`` admits only characters that need no quoting at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LINE = 16 * 1024
MAX_HEADER_LINES = 200


class AGIQuotingError(ValueError):
    """An argument cannot be sent safely."""


class AGIProtocolError(Exception):
    """The peer sent something that is not FastAGI."""


_TOKEN = re.compile(r"[A-Za-z0-9_./=:@+*#,${}()\[\]-]+\Z")


def token(value: str | int) -> str:
    """A bare argument (file names, numbers, variable names): refused if it needs quoting."""
    text = str(value)
    if not _TOKEN.match(text):
        raise AGIQuotingError(f"not a plain AGI token: {text[:80]!r}")
    return text


def text(value: str) -> str:
    """Any text as one quoted argument: quotes and backslashes escaped, line breaks refused."""
    if "\n" in value or "\r" in value or "\x00" in value:
        raise AGIQuotingError("AGI arguments cannot contain CR, LF or NUL")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(name: str, *args: str) -> bytes:
    """One command line. ``args`` must already be rendered with token() or text()."""
    if not re.fullmatch(r"[A-Z]+(?: [A-Z]+)*", name):
        raise AGIQuotingError(f"not an AGI command name: {name!r}")
    for a in args:
        if "\n" in a or "\r" in a or "\x00" in a:
            raise AGIQuotingError("AGI arguments cannot contain CR, LF or NUL")
    return (" ".join((name, *args)) + "\n").encode("utf-8")


@dataclass(frozen=True)
class AGIEnvironment:
    """The ``agi_*`` variables Asterisk sends first (names without the prefix)."""

    values: dict[str, str]

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)

    @property
    def script(self) -> str:
        return self.get("network_script")

    @property
    def args(self) -> list[str]:
        out = []
        i = 1
        while f"arg_{i}" in self.values:
            out.append(self.values[f"arg_{i}"])
            i += 1
        return out

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid")

    @property
    def channel(self) -> str:
        return self.get("channel")

    @property
    def caller_number(self) -> str:
        """Caller ID number; Asterisk writes 'unknown' when there is none."""
        v = self.get("callerid")
        return "" if v == "unknown" else v

    @property
    def caller_name(self) -> str:
        v = self.get("calleridname")
        return "" if v == "unknown" else v

    @property
    def dialed(self) -> str:
        """The number the caller dialed: the extension that entered the dialplan."""
        return self.get("extension")


class HeaderParser:
    """Collects header lines until the empty line; tolerates blank lines before it."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.lines = 0
        self.done = False

    def line(self, raw: str) -> bool:
        """Feed one line (no terminator); True once the header is complete."""
        if not raw.strip():
            if self.lines:
                self.done = True
            return self.done
        self.lines += 1
        if self.lines > MAX_HEADER_LINES:
            raise AGIProtocolError(f"AGI header longer than {MAX_HEADER_LINES} lines")
        key, sep, value = raw.partition(":")
        if not sep or not key.startswith("agi_"):
            raise AGIProtocolError(f"not an AGI header line: {raw[:60]!r}")
        self.values[key[4:].strip()] = value[1:] if value.startswith(" ") else value
        return False

    def environment(self) -> AGIEnvironment:
        return AGIEnvironment(dict(self.values))


@dataclass(frozen=True)
class AGIResult:
    """One parsed reply: ``200 result=X (data) key=value ...``."""

    code: int
    result: str
    data: str | None = None
    extras: dict[str, str] = field(default_factory=dict)
    text: str = ""  # 510/511/520: the message, usage lines joined

    @property
    def value(self) -> int:
        """``result`` as an integer (GET DATA digits are text: read ``result`` for those)."""
        try:
            return int(self.result)
        except ValueError:
            raise AGIProtocolError(f"result is not a number: {self.result!r}") from None


_REPLY = re.compile(r"200 result=(\S*)(?: \((.*)\))?((?: [A-Za-z_]+=\S*)*)\Z", re.DOTALL)


def parse_reply(line: str) -> AGIResult:
    """Parse one single-line reply (200, 510, 511 or a one-line 520)."""
    m = _REPLY.match(line)
    if m:
        extras = dict(kv.split("=", 1) for kv in m.group(3).split())
        return AGIResult(200, m.group(1), m.group(2), extras)
    code, _, rest = line.partition(" ")
    if code.isdigit() and len(code) == 3:
        return AGIResult(int(code), "", None, {}, rest)
    raise AGIProtocolError(f"not an AGI reply: {line[:80]!r}")


class ReplyParser:
    """Feed reply lines; get complete replies. ``HANGUP`` lines are reported apart."""

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    def line(self, raw: str) -> AGIResult | str | None:
        """A finished AGIResult, the string "HANGUP", or None while a 520 block goes on."""
        if self._usage is not None:
            if raw.startswith("520 "):
                lines, self._usage = self._usage, None
                return AGIResult(520, "", None, {}, "\n".join([*lines, raw[4:]]))
            self._usage.append(raw)
            return None
        if raw == "HANGUP":
            return "HANGUP"
        if raw.startswith("520-"):
            self._usage = [raw[4:]]
            return None
        return parse_reply(raw)
