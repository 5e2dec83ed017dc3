"""A live view of Asterisk's channels, bridges and calls, built from AMI events.

Channels are keyed by Uniqueid, calls by Linkedid (the Uniqueid of a call's first channel;
Asterisk may re-point a channel's Linkedid when bridging or transferring, and the model
follows it). A call ends when its last channel hangs up. Changes are published on the
event bus as the typed events below; the database writer, the ACD and the wallboard
subscribe to those, never to raw AMI.

After every AMI (re)connect, ``resync`` replaces the view with Asterisk's own snapshot
(CoreShowChannels), so a restart of either side leaves no ghost calls behind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from drivers.asterisk.ami.codec import Message, unescape
from drivers.asterisk.caller_id import CallerId
from drivers.asterisk.caller_id import normalise as normalise_caller_id

# ---- bus events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallEvent:
    linkedid: str


@dataclass(frozen=True)
class CallStarted(CallEvent):
    uniqueid: str
    channel: str
    caller_number: str
    caller_name: str
    exten: str
    at: float
    # what the switch sent, when it is not what caller_number and caller_name hold
    caller_id_raw: dict[str, str] | None = None


@dataclass(frozen=True)
class CallAnswered(CallEvent):
    uniqueid: str
    at: float


@dataclass(frozen=True)
class DialEnded(CallEvent):
    uniqueid: str
    dest_uniqueid: str
    dest_channel: str
    status: str  # ANSWER, BUSY, NOANSWER, CANCEL, CONGESTION, CHANUNAVAIL...
    at: float


@dataclass(frozen=True)
class ChannelHungUp(CallEvent):
    uniqueid: str
    channel: str
    cause: int
    cause_text: str
    at: float


@dataclass(frozen=True)
class CallEnded(CallEvent):
    started_at: float
    answered_at: float | None
    ended_at: float
    cause: int  # the cause on the call's first channel
    channels: int


@dataclass(frozen=True)
class OriginateResult(CallEvent):
    action_id: str
    success: bool
    reason: int  # 0 failure, 1 hangup, 3 no answer, 4 answered, 5 busy, 8 congestion
    channel: str
    uniqueid: str


@dataclass(frozen=True)
class RecordingChanged(CallEvent):
    uniqueid: str
    recording: bool
    at: float


# ---- the model --------------------------------------------------------------------------------

UP = 6


@dataclass
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    state: int
    caller_number: str
    caller_name: str
    exten: str
    context: str
    created_at: float
    answered_at: float | None = None
    hungup_at: float | None = None
    cause: int | None = None
    cause_text: str = ""
    bridge: str | None = None
    recording: bool = False
    caller_id_raw: dict[str, str] | None = None  # CallerId.raw: as received, when it differs


@dataclass
class Call:
    linkedid: str
    started_at: float
    channels: dict[str, Channel] = field(default_factory=dict)
    answered_at: float | None = None
    ended_at: float | None = None
    first_uniqueid: str = ""

    @property
    def live(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.hungup_at is None]


def _cid(value: str | None) -> str:
    """A value as Asterisk sends it: '<unknown>' means none; names are C-escaped."""
    if not value or value == "<unknown>":
        return ""
    return unescape(value)


def _caller_id(msg: Message) -> CallerId:
    """The caller ID to keep (drivers/asterisk/caller_id.py) of a channel event."""
    return normalise_caller_id(_cid(msg.get("CallerIDNum")), _cid(msg.get("CallerIDName")))


def _int(value: str | None, default: int = 0) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default


def _duration(value: str | None) -> float:
    """CoreShowChannel's Duration, HH:MM:SS."""
    parts = (value or "").split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return 0.0
    h, m, s = (int(p) for p in parts)
    return float(h * 3600 + m * 60 + s)


class CallModel:
    """Feed it AMI events (``handle``) and snapshots (``resync``); read ``calls``."""

    EVENTS = (
        "Newchannel",
        "Newstate",
        "NewCallerid",
        "DialEnd",
        "BridgeEnter",
        "BridgeLeave",
        "Hangup",
        "MixMonitorStart",
        "MixMonitorStop",
        "OriginateResponse",
    )

    def __init__(self, clock: Callable[[], float], publish: Callable[[object], None]) -> None:
        self.now = clock
        self.publish = publish
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.ended: list[Call] = []  # recently ended calls, bounded
        self.max_ended = 1000
        self._handlers: dict[str, Callable[[Message], None]] = {
            "Newchannel": self._new_channel,
            "Newstate": self._new_state,
            "NewCallerid": self._new_callerid,
            "DialEnd": self._dial_end,
            "BridgeEnter": self._bridge_enter,
            "BridgeLeave": self._bridge_leave,
            "Hangup": self._hangup,
            "MixMonitorStart": lambda m: self._recording(m, True),
            "MixMonitorStop": lambda m: self._recording(m, False),
            "OriginateResponse": self._originate_response,
        }

    def handle(self, msg: Message) -> None:
        handler = self._handlers.get(msg.event or "")
        if handler is not None:
            handler(msg)

    # ---- event handlers ---------------------------------------------------------------------

    def _channel_from(self, msg: Message, at: float) -> Channel:
        cid = _caller_id(msg)
        return Channel(
            uniqueid=msg.get("Uniqueid", ""),
            linkedid=msg.get("Linkedid") or msg.get("Uniqueid", ""),
            name=msg.get("Channel", ""),
            state=_int(msg.get("ChannelState")),
            caller_number=cid.number,
            caller_name=cid.name,
            exten=msg.get("Exten", "") or "",
            context=msg.get("Context", "") or "",
            created_at=at,
            caller_id_raw=cid.raw,
        )

    def _new_channel(self, msg: Message) -> None:
        at = self.now()
        ch = self._channel_from(msg, at)
        if not ch.uniqueid or ch.uniqueid in self.channels:
            return
        self.channels[ch.uniqueid] = ch
        self._attach(ch, at)
        if ch.state == UP:
            self._answered(ch, at)

    def _attach(self, ch: Channel, at: float) -> None:
        call = self.calls.get(ch.linkedid)
        if call is None:
            call = Call(ch.linkedid, at, first_uniqueid=ch.uniqueid)
            self.calls[ch.linkedid] = call
            self.publish(
                CallStarted(
                    ch.linkedid,
                    ch.uniqueid,
                    ch.name,
                    ch.caller_number,
                    ch.caller_name,
                    ch.exten,
                    at,
                    ch.caller_id_raw,
                )
            )
        call.channels[ch.uniqueid] = ch

    def _known(self, msg: Message) -> Channel | None:
        ch = self.channels.get(msg.get("Uniqueid", "") or "")
        if ch is None:
            return None
        linkedid = msg.get("Linkedid")
        if linkedid and linkedid != ch.linkedid:
            self._relink(ch, linkedid)
        return ch

    def _relink(self, ch: Channel, linkedid: str) -> None:
        old_linkedid = ch.linkedid
        ch.linkedid = linkedid
        self._attach(ch, self.now())
        self._detach(ch.uniqueid, old_linkedid, self.now())

    def _detach(self, uniqueid: str, linkedid: str, at: float) -> None:
        """A channel left call ``linkedid`` for another: that call is dropped if the channel
        was all it had, ended if only channels that hung up are left (else it is a ghost
        that never ends), and goes on if it still has a live one."""
        old = self.calls.get(linkedid)
        if old is None or old.channels.pop(uniqueid, None) is None:
            return
        if not old.channels:
            del self.calls[linkedid]
        elif not old.live:
            self._end(old, at)

    def _new_state(self, msg: Message) -> None:
        ch = self._known(msg)
        if ch is None:
            return
        ch.state = _int(msg.get("ChannelState"), ch.state)
        if ch.state == UP and ch.answered_at is None:
            self._answered(ch, self.now())

    def _answered(self, ch: Channel, at: float) -> None:
        ch.answered_at = at
        call = self.calls.get(ch.linkedid)
        if call is not None and call.answered_at is None:
            call.answered_at = at
            self.publish(CallAnswered(call.linkedid, ch.uniqueid, at))

    def _new_callerid(self, msg: Message) -> None:
        ch = self._known(msg)
        if ch is not None:
            cid = _caller_id(msg)
            ch.caller_number, ch.caller_name, ch.caller_id_raw = cid.number, cid.name, cid.raw

    def _dial_end(self, msg: Message) -> None:
        dest = msg.get("DestUniqueid", "") or ""
        caller = self.channels.get(msg.get("Uniqueid", "") or "")
        linkedid = caller.linkedid if caller else msg.get("DestLinkedid", "") or ""
        self.publish(
            DialEnded(
                linkedid,
                msg.get("Uniqueid", "") or "",
                dest,
                msg.get("DestChannel", "") or "",
                msg.get("DialStatus", "") or "",
                self.now(),
            )
        )

    def _bridge_enter(self, msg: Message) -> None:
        ch = self._known(msg)
        if ch is not None:
            ch.bridge = msg.get("BridgeUniqueid")

    def _bridge_leave(self, msg: Message) -> None:
        ch = self._known(msg)
        if ch is not None:
            ch.bridge = None

    def _recording(self, msg: Message, on: bool) -> None:
        ch = self._known(msg)
        if ch is not None:
            ch.recording = on
            self.publish(RecordingChanged(ch.linkedid, ch.uniqueid, on, self.now()))

    def _hangup(self, msg: Message) -> None:
        ch = self._known(msg)
        if ch is None or ch.hungup_at is not None:
            return
        at = self.now()
        ch.hungup_at = at
        ch.cause = _int(msg.get("Cause"))
        ch.cause_text = msg.get("Cause-txt", "") or ""
        self.channels.pop(ch.uniqueid, None)
        self.publish(ChannelHungUp(ch.linkedid, ch.uniqueid, ch.name, ch.cause, ch.cause_text, at))
        call = self.calls.get(ch.linkedid)
        if call is not None and not call.live:
            self._end(call, at)

    def _end(self, call: Call, at: float) -> None:
        call.ended_at = at
        del self.calls[call.linkedid]
        self.ended.append(call)
        del self.ended[: -self.max_ended]
        first = call.channels.get(call.first_uniqueid)
        cause = first.cause if first and first.cause is not None else 0
        self.publish(
            CallEnded(
                call.linkedid, call.started_at, call.answered_at, at, cause, len(call.channels)
            )
        )

    def _originate_response(self, msg: Message) -> None:
        uniqueid = _cid(msg.get("Uniqueid"))  # '<unknown>' when no channel was made
        ch = self.channels.get(uniqueid)
        self.publish(
            OriginateResult(
                ch.linkedid if ch else uniqueid,
                msg.get("ActionID", "") or "",
                msg.get("Response") == "Success",
                _int(msg.get("Reason")),
                msg.get("Channel", "") or "",
                uniqueid,
            )
        )

    # ---- resync -------------------------------------------------------------------------------

    def resync(self, snapshot: Iterable[Message]) -> None:
        """Replace the view with a CoreShowChannels snapshot; end calls that are gone."""
        at = self.now()
        seen: dict[str, Channel] = {}
        for item in snapshot:
            ch = self._channel_from(item, at - _duration(item.get("Duration")))
            if not ch.uniqueid:
                continue
            old = self.channels.get(ch.uniqueid)
            if old is not None:  # keep what we knew (answer time, recording)
                ch.answered_at, ch.recording = old.answered_at, old.recording
                ch.created_at = old.created_at
            elif ch.state == UP:
                ch.answered_at = at
            ch.bridge = item.get("BridgeId") or None
            seen[ch.uniqueid] = ch
        for uniqueid, ch in list(self.channels.items()):
            if uniqueid not in seen:  # hung up while we were not listening
                self._hangup(
                    Message(
                        (
                            ("Event", "Hangup"),
                            ("Uniqueid", uniqueid),
                            ("Linkedid", ch.linkedid),
                            ("Cause", "0"),
                            ("Cause-txt", "Gone while AMI was disconnected"),
                        )
                    )
                )
        for ch in seen.values():
            before = self.channels.get(ch.uniqueid)
            known = before is not None
            self.channels[ch.uniqueid] = ch
            if before is not None and before.linkedid != ch.linkedid:
                # Re-pointed while we were not listening: out of its old call, or that call
                # would keep this stale channel and never end.
                self._detach(ch.uniqueid, before.linkedid, at)
            call = self.calls.get(ch.linkedid)
            if call is None:
                self._attach(ch, ch.created_at)
                call = self.calls[ch.linkedid]
            else:
                call.channels[ch.uniqueid] = ch
            if not known:  # adopted: the call is at least as old as this channel
                call.started_at = min(call.started_at, ch.created_at)
            if ch.answered_at is not None and call.answered_at is None:
                call.answered_at = ch.answered_at

    def summary(self) -> dict[str, Any]:
        return {"channels": len(self.channels), "calls": len(self.calls), "ended": len(self.ended)}
