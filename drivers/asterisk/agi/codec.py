"""FastAGI, sans-IO: the ``agi_*`` header, command lines out, reply lines in.

Quoting is done here and only here. Asterisk splits a command on spaces, honours ``"``
quotes and ``\\`` escapes, and ends it at LF (a CR would become part of the last
argument), so ``text()`` escapes quotes and backslashes and refuses CR, LF and NUL, and
``token()`` admits only characters that need no quoting at all.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from drivers.asterisk.caller_id import CallerId
from drivers.asterisk.caller_id import normalise as normalise_caller_id

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

    @functools.cached_property
    def caller_id(self) -> CallerId:
        """Caller ID as stored (drivers/asterisk/caller_id.py), with what the trunk sent;
        Asterisk writes 'unknown' when there is none. Worked out once: the header does not
        change after it is read."""
        return normalise_caller_id(self.get("callerid"), self.get("calleridname"))

    @property
    def caller_number(self) -> str:
        """Digits and at most a leading '+', or "" (no number, or not a number)."""
        return self.caller_id.number

    @property
    def caller_name(self) -> str:
        """The caller's name as text: no control characters, at most 80 characters."""
        return self.caller_id.name

    @property
    def dialed(self) -> str:
        """The number the caller dialed: the extension that entered the dialplan."""
        return self.get("extension")


# Asterisk 22's FastAGI header, in the order it writes it (res_agi.c: launch_netscript writes
# the first two, agi_network_script only for a script name, then setup_env the rest),
# followed by agi_arg_1, agi_arg_2, ... and an empty line.
HEADER_KEYS = (
    "network",
    "network_script",
    "request",
    "channel",
    "language",
    "type",
    "uniqueid",
    "version",
    "callerid",
    "calleridname",
    "callingpres",
    "callingani2",
    "callington",
    "callingtns",
    "dnid",
    "rdnis",
    "context",
    "extension",
    "priority",
    "enhanced",
    "accountcode",
    "threadid",
)
_ORDER = {k: i for i, k in enumerate(HEADER_KEYS)}
_ARG = re.compile(r"arg_([1-9][0-9]{0,2})\Z")
# Written with %s as the trunk (or ${EXTEN}, from the trunk) gave them: any text, a line
# break too. Every other value is formatted by Asterisk (numbers, names it makes).
RAW_VALUES = frozenset({"callerid", "calleridname", "dnid", "rdnis", "extension", "arg"})
BROKEN = "\ufffd"  # what a line break or another control character inside a value becomes


class AGIHeaderRefused(AGIProtocolError):
    """A header Asterisk cannot have written: a key repeated, out of order or unknown."""


class HeaderParser:
    """Reads the header strictly in Asterisk's order.

    A repeated key, a key out of order and a key Asterisk never sends are refused: a caller
    name ``Bob\\nagi_callerid: 10086`` would otherwise set the number. Keys may be missing
    (only Asterisk's order is checked), but once ``agi_request`` shows a whole Asterisk header,
    the header cannot end before ``agi_threadid``. A line that is no ``agi_`` line right
    after a value the trunk gave (the caller name, number, DNID, RDNIS, extension, an
    argument) continues that value: a line break in a caller name is the trunk's, and the
    call is served with the break shown as U+FFFD. A header ended early by a name
    (``Bob\\n\\nagi_...``) is seen by the session when the rest arrives after the end.
    """

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.lines = 0
        self.done = False
        self._last = -1  # the position in Asterisk's order of the last key read
        self._args = 0
        self._open: str | None = None  # the raw value a line without key continues

    def line(self, raw: str) -> bool:
        """Feed one line (no terminator); True once the header is complete."""
        if self.done:
            raise AGIProtocolError("AGI header already complete")
        if raw.startswith("agi_"):
            self._count()
            self._key_line(raw)
            return False
        if self._open is not None and (raw.strip() or self._more_due()):
            self._count()
            self.values[self._open] += BROKEN + _clean(raw)
            return False
        if raw.strip():
            raise AGIProtocolError(f"not an AGI header line: {raw[:60]!r}")
        if not self.lines:
            return False  # blank lines before the header
        if "request" in self.values and "threadid" not in self.values:
            raise AGIHeaderRefused("the AGI header ends without agi_threadid")
        self.done = True
        return True

    def _count(self) -> None:
        self.lines += 1
        if self.lines > MAX_HEADER_LINES:
            raise AGIProtocolError(f"AGI header longer than {MAX_HEADER_LINES} lines")

    def _more_due(self) -> bool:
        """A whole Asterisk header (it has agi_request) before agi_threadid: more keys must
        come, so an empty line is inside a value, not the header's end."""
        return "request" in self.values and self._last < _ORDER["threadid"]

    def _key_line(self, raw: str) -> None:
        key, sep, value = raw.partition(":")
        name = key[4:]
        if not sep:
            raise AGIHeaderRefused(f"not an AGI header line: {raw[:60]!r}")
        arg = _ARG.match(name)
        if name in _ORDER:
            position = _ORDER[name]
        elif arg is not None:
            position = len(HEADER_KEYS) + int(arg.group(1))
            if int(arg.group(1)) != self._args + 1:
                raise AGIHeaderRefused(f"agi_{name} after agi_arg_{self._args}")
            self._args += 1
        else:
            raise AGIHeaderRefused(f"agi_{name[:40]!r}: a key Asterisk never sends")
        if name in self.values:
            raise AGIHeaderRefused(f"agi_{name} repeated")
        if position <= self._last:
            raise AGIHeaderRefused(f"agi_{name} out of Asterisk's order")
        self._last = position
        self.values[name] = _clean(value[1:] if value.startswith(" ") else value)
        self._open = name if (name in RAW_VALUES or arg is not None) else None

    def environment(self) -> AGIEnvironment:
        return AGIEnvironment(dict(self.values))


def _clean(value: str) -> str:
    """The characters that would break a line anywhere the value goes next."""
    return value.replace("\r", BROKEN).replace("\n", BROKEN).replace("\x00", BROKEN)


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
