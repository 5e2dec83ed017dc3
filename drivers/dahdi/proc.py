"""``/proc/dahdi/<N>``: one file per span, as dahdi-linux's ``dahdi_seq_show`` writes it.

The format (drivers/dahdi/dahdi-base.c, ``dahdi_seq_show``, ``fill_alarm_string``,
``lineconfig_str``, ``sigstr``)::

    Span 1: TE2/0/1 "T2XXP (PCI) Card 0 Span 1" (MASTER) CCS/HDB3/CRC4 RED ClockSource
    \\tBPV count: 3                         (each counter line only when not 0)
    \\tCRC4 error count: 1
    \\tE-bit error count: 0
    \\tFAS error count: 2
    \\tIRQ misses: 1
    \\tTiming slips: 0
                                            (a blank line)
    \\t   1 TE2/0/1/1 Clear (In use) (EC: OSLEC - INACTIVE)
    \\t  16 TE2/0/1/16 HDLCFCS (In use) RED

A name or a description may be empty (``Span 3: ""``), the line config is absent on an
unconfigured span, alarms are among ``BLUE YELLOW RED LOOP RECOVERING NOTOPEN`` (``LOOP`` is
LOOPBACK here), a channel's signalling is one of ``sigstr()`` (``E&M-E1``, ``SF (ToneOnly)``,
``Hardware-assisted HDLC``: several words), ``Reserved`` or nothing.

A line that does not read as any of this is skipped with a logged warning: the rest of the
file is kept. Reading the whole root is blocking file I/O: call ``read_root`` in a thread.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from twisted.logger import Logger

from drivers.dahdi.status import (
    BLUE,
    LOOPBACK,
    NOTOPEN,
    RECOVERING,
    RED,
    YELLOW,
    Channel,
    Span,
    printable,
)

log = Logger(namespace="ccbox.dahdi.proc")

MAX_FILE_BYTES = 256 * 1024  # 31 channels are ~2 KB; an analog span of 1024 lines ~80 KB
MAX_SPANS = 256  # dahdi-linux's DAHDI_MAX_SPANS is 128
_MAX_NUMBER = 100_000

_PROC_ALARMS = {
    "BLUE": BLUE,
    "YELLOW": YELLOW,
    "RED": RED,
    "LOOP": LOOPBACK,
    "RECOVERING": RECOVERING,
    "NOTOPEN": NOTOPEN,
}
# sigstr(): longest first, so "E&M-E1" is not read as "E&M".
SIGNALLINGS = tuple(
    sorted(
        (
            "FXSLS",
            "FXSKS",
            "FXSGS",
            "FXOLS",
            "FXOKS",
            "FXOGS",
            "E&M",
            "E&M-E1",
            "Clear",
            "HDLCRAW",
            "HDLCFCS",
            "HDLCNET",
            "Hardware-assisted HDLC",
            "MTP2",
            "Slave",
            "CAS",
            "DACS",
            "DACS+RBS",
            "SF (ToneOnly)",
            "Unconfigured",
            "Reserved",
        ),
        key=len,
        reverse=True,
    )
)
_FRAMINGS = ("CCS", "ESF", "D4")
_CODINGS = ("HDB3", "AMI", "B8ZS")
_LINECONFIG_WORDS = {*_FRAMINGS, *_CODINGS, "CRC4", "NTTE", "TERM"}

# The description runs to the last quote (a quote inside it is printed as is).
_HEADER = re.compile(r'Span (\d{1,6}): (?:(\S+) )?"([^\n]*)"([^"]*)')
_COUNTER = re.compile(r"\t([A-Za-z0-9 -]+): (\d{1,12})")
_COUNTER_KEYS = {
    "BPV count": "bpv",
    "CRC4 error count": "crc4",
    "E-bit error count": "ebit",
    "FAS error count": "fas",
    "IRQ misses": "irq_misses",
    "Timing slips": "timing_slips",
}
_CHANNEL = re.compile(r"\t *(\d{1,6}) ?(.*)")
_EC = re.compile(r"\((?:SW|HW)?EC: [^)]*\)")  # (SWEC: ...): DAHDI before 2.3
_NAME = re.compile(r"[!-~]{1,40}")


def _warn(source: str, lineno: int, line: str, why: str) -> None:
    log.warn(
        "{source}:{lineno}: {why}, line skipped: {line!r}",
        source=source,
        lineno=lineno,
        why=why,
        line=printable(line, 80),
    )


def _header(line: str) -> tuple[Span, list[str]] | None:
    """The span of a header line and the words of it we do not know (kept out of the span:
    a newer DAHDI's flag must not hide the span's alarms and channels)."""
    m = _HEADER.fullmatch(line.rstrip(" "))
    if not m or not 0 < int(m[1]) <= _MAX_NUMBER:
        return None
    number, name, description, rest = int(m[1]), m[2] or "", m[3], m[4]
    alarms: set[str] = set()
    framing = coding = ""
    crc4 = master = clock = False
    unknown: list[str] = []
    words = rest.split()
    if words[:1] == ["(MASTER)"]:
        master = True
        words = words[1:]
    for word in words:
        if "/" in word or word in _LINECONFIG_WORDS:
            parts = word.split("/")
            if not all(p in _LINECONFIG_WORDS for p in parts):
                unknown.append(word)
                continue
            framing = next((p for p in parts if p in _FRAMINGS), framing)
            coding = next((p for p in parts if p in _CODINGS), coding)
            crc4 = crc4 or "CRC4" in parts
        elif word in _PROC_ALARMS:
            alarms.add(_PROC_ALARMS[word])
        elif word == "ClockSource":
            clock = True
        else:
            unknown.append(word)
    if not framing and coding:
        framing = "CAS"  # E1 without CCS: lineconfig_str() names no framing
    span = Span(
        number=number,
        name=printable(name, 40),
        description=printable(description),
        alarms=frozenset(alarms),
        framing=framing,
        coding=coding,
        crc4=crc4,
        sync_master=master,
        clock_source=clock,
    )
    return span, unknown


def _channel(line: str, span: int) -> Channel | None:
    m = _CHANNEL.fullmatch(line.rstrip(" "))
    if not m or not 0 < int(m[1]) <= _MAX_NUMBER:
        return None
    number, rest = int(m[1]), _EC.sub("", m[2]).strip()
    name = ""
    signalling = ""
    # The name (chan->name) comes first when set: a word with a slash, or any word that is
    # followed by a signalling; the signalling itself may hold spaces.
    for sig in SIGNALLINGS:
        if rest == sig or rest.startswith(sig + " "):
            signalling, rest = sig, rest[len(sig) :].strip()
            break
    else:
        first, _, after = rest.partition(" ")
        if first and first not in ("(In", "(no") and first not in _PROC_ALARMS:
            if not _NAME.fullmatch(first):
                return None  # chan->name is at most 40 printable characters
            name, rest = first, after.strip()
            for sig in SIGNALLINGS:
                if rest == sig or rest.startswith(sig + " "):
                    signalling, rest = sig, rest[len(sig) :].strip()
                    break
    opened = False
    alarms: set[str] = set()
    if rest.startswith("Master"):
        rest = rest[len("Master") :].strip()
    if rest.startswith("(In use)"):
        opened = True
        rest = rest[len("(In use)") :].strip()
    if rest.startswith("(no pcm)"):
        rest = rest[len("(no pcm)") :].strip()
    for word in rest.split():
        if word not in _PROC_ALARMS:
            return None
        alarms.add(_PROC_ALARMS[word])
    return Channel(
        number=number,
        span=span,
        signalling=signalling or "Unconfigured",
        in_use=opened,
        alarms=frozenset(alarms),
        name=printable(name, 40),
        opened=opened,
    )


def parse_span(text: str, source: str = "<span>") -> Span | None:
    """One ``/proc/dahdi/<N>`` file's text as a Span; None when its first line is no span
    header (the file is then not DAHDI's). Odd lines after it are skipped and logged."""
    lines = text.split("\n")
    span: Span | None = None
    start = 0
    for i, line in enumerate(lines):
        if line.strip():
            header = _header(line)
            start = i + 1
            if header is None:
                _warn(source, i + 1, line, "not a span header")
                return None
            span, unknown = header
            if unknown:
                log.warn(
                    "{source}:{lineno}: span header words not known, ignored: {words!r}",
                    source=source,
                    lineno=i + 1,
                    words=printable(" ".join(unknown), 80),
                )
            break
    if span is None:
        return None
    counters: dict[str, int] = {}
    channels: dict[int, Channel] = {}
    for i, line in enumerate(lines[start:], start + 1):
        if not line.strip():
            continue
        counter = _COUNTER.fullmatch(line.rstrip(" "))
        if counter and counter[1] in _COUNTER_KEYS:
            counters[_COUNTER_KEYS[counter[1]]] = int(counter[2])
            continue
        channel = _channel(line, span.number)
        if channel is None:
            _warn(source, i, line, "not a counter or a channel")
        elif channel.number in channels:
            _warn(source, i, line, f"channel {channel.number} listed twice")
        else:
            channels[channel.number] = channel
    return Span(
        number=span.number,
        name=span.name,
        description=span.description,
        alarms=span.alarms,
        counters=counters,
        channels=tuple(sorted(channels.values(), key=lambda c: c.number)),
        framing=span.framing,
        coding=span.coding,
        crc4=span.crc4,
        sync_master=span.sync_master,
        clock_source=span.clock_source,
    )


class RootUnreadable(Exception):
    """The root is there but cannot be listed (permissions, an I/O error): not "no DAHDI"."""


def read_root(root: Path, read: Callable[[Path], bytes] | None = None) -> list[Span] | None:
    """Every span under ``root`` (files named by their span number), in span order; None when
    ``root`` does not exist (no DAHDI on this box, or DAHDI unloaded as we looked); raises
    RootUnreadable when it cannot be listed. Blocking: run it in a thread."""
    try:  # listed at once, no is_dir() first: the root may go between the two
        entries = list(root.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise RootUnreadable(f"{root}: {exc.strerror or exc}") from None
    reader = read or _read_bounded
    spans: dict[int, Span] = {}
    names = sorted((p for p in entries if p.name.isdigit()), key=lambda p: int(p.name))
    for path in names[:MAX_SPANS]:
        try:
            raw = reader(path)
        except OSError as exc:  # a span removed while we read: the next poll sees it gone
            log.warn("{path}: not read: {why}", path=str(path), why=exc.strerror or str(exc))
            continue
        text = raw.decode("utf-8", errors="replace").replace("\0", "")
        span = parse_span(text, str(path))
        if span is None:
            continue
        if span.number != int(path.name):
            log.warn("{path}: says span {n}, kept as span {n}", path=str(path), n=span.number)
        spans.setdefault(span.number, span)
    return [spans[n] for n in sorted(spans)]


def _read_bounded(path: Path) -> bytes:
    with path.open("rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        log.warn(
            "{path}: longer than {n} bytes, the rest ignored", path=str(path), n=MAX_FILE_BYTES
        )
        data = data[:MAX_FILE_BYTES]
    return data
