"""What a DAHDI span and its channels look like, whatever source told us (plain frozen data).

The alarm names are DAHDI's own (``fill_alarm_string`` in dahdi-linux's dahdi-base.c), with
the kernel's ``LOOP`` spelled ``LOOPBACK``: every source (``/proc/dahdi/<N>``, ``dahdi_scan``'s
``BLU/YEL/RED/LB/REC/NOP``, chan_dahdi's ``Red Alarm``...) is mapped to these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

RED = "RED"
YELLOW = "YELLOW"
BLUE = "BLUE"
LOOPBACK = "LOOPBACK"
RECOVERING = "RECOVERING"
NOTOPEN = "NOTOPEN"
ALARMS = (RED, YELLOW, BLUE, LOOPBACK, RECOVERING, NOTOPEN)
# Raised, but named as none of the above (dahdi_scan's UUU, chan_dahdi's Unknown Alarm).
UNKNOWN_ALARM = "UNKNOWN"

# dahdi-base.c sigstr(): a channel with one of these carries no calls.
UNCONFIGURED = ("Unconfigured", "Reserved", "")

# The counter lines of /proc/dahdi/<N> (dahdi_seq_show), by the key we give each.
COUNTERS = ("bpv", "crc4", "ebit", "fas", "irq_misses", "timing_slips")


def printable(text: str, limit: int = 120) -> str:
    """``text`` bounded and without control characters: every source (a /proc file,
    dahdi_scan's output, the AMI stream) is input, and its texts reach logs and pages."""
    return "".join(c for c in text if c.isprintable())[:limit]


def _frozen(counters: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(counters))


@dataclass(frozen=True)
class Channel:
    """One DAHDI channel. ``in_use``: carrying a call (chan_dahdi has an owner channel for
    it, ``asterisk_channel``); without the AMI view it is the kernel's ``(In use)`` flag,
    which only says that a program holds the channel open (``opened``)."""

    number: int
    span: int
    signalling: str
    in_use: bool = False
    alarms: frozenset[str] = frozenset()
    asterisk_channel: str = ""
    name: str = ""  # the kernel's name, e.g. TE2/0/1/1
    opened: bool = False

    @property
    def configured(self) -> bool:
        return self.signalling not in UNCONFIGURED

    @property
    def usable(self) -> bool:
        """Configured and in no alarm: it may carry a call."""
        return self.configured and not self.alarms


@dataclass(frozen=True)
class Span:
    """One span (an E1/T1 port or an analog card). ``counters``: error counters by the keys
    of ``COUNTERS`` (a counter the kernel did not print is 0)."""

    number: int
    name: str
    description: str
    alarms: frozenset[str] = frozenset()
    counters: Mapping[str, int] = field(default_factory=dict, hash=False)
    channels: tuple[Channel, ...] = ()
    framing: str = ""  # CCS, CAS, ESF, D4 ("" unknown)
    coding: str = ""  # HDB3, AMI, B8ZS
    crc4: bool = False
    sync_master: bool = False  # (MASTER): DAHDI's timing master
    clock_source: bool = False  # this span gives the box its clock
    # From dahdi_scan (empty when not read): the card and where the span starts.
    manufacturer: str = ""
    devicetype: str = ""
    span_type: str = ""  # digital-E1, digital-T1, analog
    basechan: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "counters", _frozen(self.counters))

    @property
    def ok(self) -> bool:
        return not self.alarms

    @property
    def alarm_text(self) -> str:
        """``OK`` or the alarms in DAHDI's order, e.g. ``RED YELLOW``."""
        return alarm_text(self.alarms)

    def with_channels(self, channels: tuple[Channel, ...]) -> Span:
        return replace(self, channels=channels)


def in_order(alarms: frozenset[str] | set[str]) -> list[str]:
    """The alarms in DAHDI's order (any other name, e.g. ``UNKNOWN``, after them, sorted)."""
    return [a for a in ALARMS if a in alarms] + sorted(alarms.difference(ALARMS))


def alarm_text(alarms: frozenset[str]) -> str:
    """``OK`` or the alarms in DAHDI's order (any other name, e.g. ``UNKNOWN``, after them)."""
    return " ".join(in_order(alarms)) or "OK"
