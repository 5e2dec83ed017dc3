"""chan_dahdi's view over AMI: the ``DAHDIShowChannels`` list and the alarm events.

Formats from Asterisk 22's channels/chan_dahdi.c: ``action_dahdishowchannels`` sends one
``Event: DAHDIShowChannels`` per channel (``DAHDIChannel``, ``Signalling``, ``SignallingCode``,
``Context``, ``DND``, ``Alarm``, ``Description``; ``Channel``, ``Uniqueid`` and ``AccountCode``
only while the channel has an owner, i.e. carries a call), ended by
``DAHDIShowChannelsComplete``. ``Alarm`` is ``alarm2str()``: the first of ``Red Alarm``,
``Yellow Alarm``, ``Blue Alarm``, ``Recovering``, ``Loopback``, ``Not Open`` set, else
``No Alarm`` (``Unknown Alarm`` for other bits). The events (``publish_channel_alarm``,
``publish_span_alarm`` and their ``_clear``): ``Alarm`` (DAHDIChannel, Alarm), ``AlarmClear``
(DAHDIChannel), ``SpanAlarm`` (Span, Alarm), ``SpanAlarmClear`` (Span); and ``DAHDIChannel``
(``dahdichannel_to_ami``: the channel's state headers, ``DAHDIGroup``, ``DAHDISpan``,
``DAHDIChannel``: ``N``, ``pseudo``, or ``no-media (N)`` for a call with no B channel yet,
from ``dahdi_ami_channel_event``) when a call takes a channel.

Each function takes the AMI client's message (anything with ``get(name)``) and returns plain
data, or None for a message it cannot read (logged, never raised).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

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

log = Logger(namespace="ccbox.dahdi.ami")

SHOW_CHANNELS = "DAHDIShowChannels"
ALARM_EVENTS = ("Alarm", "AlarmClear", "SpanAlarm", "SpanAlarmClear")
# dahdichannel_to_ami(): a DAHDI channel got an Asterisk channel (a call seized it).
SEIZED_EVENT = "DAHDIChannel"

# chan_dahdi.c alarms[] / alarm2str()
_ALARM_NAMES = {
    "Red Alarm": RED,
    "Yellow Alarm": YELLOW,
    "Blue Alarm": BLUE,
    "Recovering": RECOVERING,
    "Loopback": LOOPBACK,
    "Not Open": NOTOPEN,
}
_NO_ALARM = ("No Alarm", "None")
_MAX_NUMBER = 100_000  # far past DAHDI's channel and span limits


class Message(Protocol):
    def get(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class AmiChannel:
    """One ``DAHDIShowChannels`` item. ``owner``: the Asterisk channel on it ("" idle)."""

    number: int
    signalling: str
    context: str
    alarms: frozenset[str]
    description: str
    owner: str = ""
    uniqueid: str = ""
    dnd: bool = False

    @property
    def in_use(self) -> bool:
        return bool(self.owner)


@dataclass(frozen=True)
class AlarmEvent:
    """A channel's or a span's alarm raised (``alarms`` not empty) or cleared (empty)."""

    kind: str  # "channel" or "span"
    number: int
    alarms: frozenset[str]


def alarms_of(text: str | None) -> frozenset[str]:
    """chan_dahdi's alarm text as our names: ``Red Alarm`` -> {RED}; ``No Alarm`` -> {}."""
    text = (text or "").strip()
    if not text or text in _NO_ALARM:
        return frozenset()
    return frozenset({_ALARM_NAMES.get(text, UNKNOWN_ALARM)})


def _number(msg: Message, key: str) -> int | None:
    raw = (msg.get(key) or "").strip()
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) <= _MAX_NUMBER:
        log.warn("DAHDI AMI: {key} {raw!r} is not a channel or span number", key=key, raw=raw)
        return None
    return int(raw)


def _text(msg: Message, key: str, limit: int = 80) -> str:
    """A bounded printable text (a description or a context is the config's, but the AMI
    stream is input like any other)."""
    return printable(msg.get(key) or "", limit)


def show_channel(msg: Message) -> AmiChannel | None:
    """One ``DAHDIShowChannels`` event, or None when its channel number is unreadable."""
    number = _number(msg, "DAHDIChannel")
    if number is None:
        return None
    return AmiChannel(
        number=number,
        signalling=_text(msg, "Signalling", 40),
        context=_text(msg, "Context"),
        alarms=alarms_of(msg.get("Alarm")),
        description=_text(msg, "Description"),
        owner=_text(msg, "Channel", 200),
        uniqueid=_text(msg, "Uniqueid", 150),
        dnd=(msg.get("DND") or "") == "Enabled",
    )


def show_channels(events: Iterable[Message]) -> dict[int, AmiChannel]:
    """The channels of a ``DAHDIShowChannels`` list by number (unreadable items skipped)."""
    out: dict[int, AmiChannel] = {}
    for msg in events:
        if (msg.get("Event") or SHOW_CHANNELS) != SHOW_CHANNELS:
            continue
        item = show_channel(msg)
        if item is not None:
            out[item.number] = item
    return out


def alarm_event(msg: Message) -> AlarmEvent | None:
    """``Alarm``/``AlarmClear``/``SpanAlarm``/``SpanAlarmClear`` as an AlarmEvent."""
    name = msg.get("Event") or ""
    if name in ("Alarm", "AlarmClear"):
        kind, key = "channel", "DAHDIChannel"
    elif name in ("SpanAlarm", "SpanAlarmClear"):
        kind, key = "span", "Span"
    else:
        return None
    number = _number(msg, key)
    if number is None:
        return None
    alarms = frozenset() if name.endswith("Clear") else alarms_of(msg.get("Alarm"))
    if not name.endswith("Clear") and not alarms:
        alarms = frozenset({UNKNOWN_ALARM})  # raised, but named as nothing we know
    return AlarmEvent(kind, number, alarms)


def seized(msg: Message) -> tuple[int, str] | None:
    """A ``DAHDIChannel`` event: (the DAHDI channel number, the Asterisk channel on it); None
    for a pseudo channel or an unreadable number."""
    raw = (msg.get("DAHDIChannel") or "").strip()
    head = raw.split("-", 1)[0]
    if raw == "pseudo" or not head.isascii() or not head.isdigit():
        return None
    if not 0 < int(head) <= _MAX_NUMBER:
        return None
    return int(head), _text(msg, "Channel", 200)
