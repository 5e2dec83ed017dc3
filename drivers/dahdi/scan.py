"""``dahdi_scan``'s output: one ``[N]`` block of ``key=value`` lines per span.

The format (dahdi-tools' dahdi_scan.c ``main``)::

    [1]
    active=yes
    alarms=OK                  (or BLU/YEL/RED/LFA/LB/REC/NOP/UUU joined by "/", LMFA/OK,
                                UNCONFIGURED)
    description=T2XXP (PCI) Card 0 Span 1
    name=TE2/0/1
    manufacturer=Digium
    devicetype=Wildcard TE205P (4th Gen)
    location=PCI Bus 02 Slot 01
    basechan=1
    totchans=31
    irq=0
    type=digital-E1            (digital spans: syncsrc, lbo, coding_opts, framing_opts,
    ...                         coding, framing; analog spans: port=N,FXS lines)

A line that is no ``key=value`` of a known block is skipped with a logged warning.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass

from twisted.logger import Logger

from drivers.dahdi.status import (
    BLUE,
    LOOPBACK,
    NOTOPEN,
    RECOVERING,
    RED,
    UNKNOWN_ALARM,
    YELLOW,
    printable,
)

log = Logger(namespace="ccbox.dahdi.scan")

MAX_OUTPUT_BYTES = 1024 * 1024
_SCAN_ALARMS = {
    "BLU": BLUE,
    "YEL": YELLOW,
    "RED": RED,
    "LFA": RED,  # loss of frame alignment: printed only beside RED
    "LB": LOOPBACK,
    "REC": RECOVERING,
    "NOP": NOTOPEN,
    "UUU": UNKNOWN_ALARM,
}
_BLOCK = re.compile(r"\[(\d{1,6})\]")
_PAIR = re.compile(r"([a-z_]{1,32})=(.*)")


@dataclass(frozen=True)
class ScanSpan:
    """What dahdi_scan says of one span (the fields ccbox shows)."""

    number: int
    alarms: frozenset[str] = frozenset()
    configured: bool = True  # alarms=UNCONFIGURED: no channel configured
    description: str = ""
    name: str = ""
    manufacturer: str = ""
    devicetype: str = ""
    location: str = ""
    basechan: int = 0
    totchans: int = 0
    span_type: str = ""  # digital-E1, digital-T1, analog
    framing: str = ""
    coding: str = ""


def scan_alarms(text: str) -> tuple[frozenset[str], bool]:
    """``RED/LFA`` -> ({RED}, configured); ``OK``/``LMFA/OK`` -> ({}, True);
    ``UNCONFIGURED`` -> ({}, False)."""
    text = text.strip()
    if text == "UNCONFIGURED":
        return frozenset(), False
    out = set()
    for part in text.split("/"):
        if part in ("OK", "LMFA", ""):
            continue
        out.add(_SCAN_ALARMS.get(part, UNKNOWN_ALARM))
    return frozenset(out), True


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 7 else 0


def parse_scan(text: str, source: str = "dahdi_scan") -> dict[int, ScanSpan]:
    """dahdi_scan's output by span number."""
    blocks: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        block = _BLOCK.fullmatch(line)
        if block:
            current = blocks.setdefault(int(block[1]), {})
            continue
        pair = _PAIR.fullmatch(line)
        if pair is None or current is None:
            log.warn(
                "{source}:{lineno}: not key=value in a [span] block, skipped: {line!r}",
                source=source,
                lineno=lineno,
                line=printable(line, 80),
            )
            continue
        current.setdefault(pair[1], pair[2])
    out: dict[int, ScanSpan] = {}
    for number, values in blocks.items():
        alarms, configured = scan_alarms(values.get("alarms", ""))
        out[number] = ScanSpan(
            number=number,
            alarms=alarms,
            configured=configured,
            description=printable(values.get("description", "")),
            name=printable(values.get("name", ""), 40),
            manufacturer=printable(values.get("manufacturer", ""), 60),
            devicetype=printable(values.get("devicetype", ""), 80),
            location=printable(values.get("location", ""), 80),
            basechan=_int(values.get("basechan", "")),
            totchans=_int(values.get("totchans", "")),
            span_type=printable(values.get("type", ""), 20),
            framing=printable(values.get("framing", ""), 20),
            coding=printable(values.get("coding", ""), 20),
        )
    return out


def run(argv: tuple[str, ...], timeout: float) -> dict[int, ScanSpan]:
    """Run dahdi_scan (an argument list, no shell) and parse its output; {} when it fails
    (logged): the kernel's files still give every alarm. Blocking: run it in a thread."""
    try:
        done = subprocess.run(  # noqa: S603  the admin's absolute path, an argument list, no shell
            argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warn("{cmd}: not run: {why}", cmd=argv[0], why=str(exc))
        return {}
    if done.returncode != 0:
        log.warn(
            "{cmd}: exit status {rc}: {err}",
            cmd=argv[0],
            rc=done.returncode,
            err=printable(done.stderr.decode("utf-8", "replace"), 200),
        )
        return {}
    out = done.stdout[:MAX_OUTPUT_BYTES].decode("utf-8", "replace")
    return parse_scan(out, argv[0])
