"""AMI event headers as Asterisk 22 writes them, for the simulator's channels.

Every channel event carries the same channel snapshot (Channel, ChannelState, ... Linkedid,
see shared/asterisk-traces/PROTOCOL.md); events about two channels repeat it with a prefix
(``Dest``, ``Spyer``/``Spyee``, ``LocalOne``/``LocalTwo``). CallerIDName and
ConnectedLineName are C-escaped, as Asterisk does. Header order here is the order of the
traces; tests hold it there.
"""

from __future__ import annotations

from dataclasses import dataclass

Headers = list[tuple[str, str]]

STATE_DESC = {0: "Down", 4: "Ring", 5: "Ringing", 6: "Up", 7: "Busy"}
DOWN, RING, RINGING, UP, BUSY = 0, 4, 5, 6, 7

CAUSE_TEXT = {
    0: "Unknown",
    16: "Normal Clearing",
    17: "User busy",
    19: "User alerting, no answer",
    20: "Subscriber absent",
    21: "Call Rejected",
    32: "Circuit/channel congestion",
    34: "Circuit/channel congestion",
    66: "Channel not implemented",
}
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "'": "\\'"}


def c_escape(value: str) -> str:
    """Asterisk's escaping of caller names in events (the reader unescapes it)."""
    if not any(c in value for c in _ESCAPES):
        return value
    return "".join(_ESCAPES.get(c, c) for c in value)


@dataclass
class ChannelSnapshot:
    name: str
    uniqueid: str
    linkedid: str
    state: int = DOWN
    caller_num: str = "<unknown>"
    caller_name: str = "<unknown>"
    connected_num: str = "<unknown>"
    connected_name: str = "<unknown>"
    context: str = ""
    exten: str = ""
    priority: int = 1
    language: str = "en"
    accountcode: str = ""

    def headers(self, prefix: str = "") -> Headers:
        p = prefix
        return [
            (f"{p}Channel", self.name),
            (f"{p}ChannelState", str(self.state)),
            (f"{p}ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (f"{p}CallerIDNum", self.caller_num or "<unknown>"),
            (f"{p}CallerIDName", c_escape(self.caller_name) or "<unknown>"),
            (f"{p}ConnectedLineNum", self.connected_num or "<unknown>"),
            (f"{p}ConnectedLineName", c_escape(self.connected_name) or "<unknown>"),
            (f"{p}Language", self.language),
            (f"{p}AccountCode", self.accountcode),
            (f"{p}Context", self.context),
            (f"{p}Exten", self.exten),
            (f"{p}Priority", str(self.priority)),
            (f"{p}Uniqueid", self.uniqueid),
            (f"{p}Linkedid", self.linkedid),
        ]


def event(name: str, privilege: str, *parts: Headers) -> Headers:
    out: Headers = [("Event", name), ("Privilege", f"{privilege},all")]
    for part in parts:
        out.extend(part)
    return out


def channel_event(name: str, ch: ChannelSnapshot, *extra: tuple[str, str]) -> Headers:
    """Newchannel, Newstate, MixMonitorStart, MusicOnHoldStart... : the snapshot + extras."""
    return event(name, "call", ch.headers(), list(extra))


def hangup(ch: ChannelSnapshot, cause: int) -> Headers:
    return channel_event(
        "Hangup", ch, ("Cause", str(cause)), ("Cause-txt", CAUSE_TEXT.get(cause, "Unknown"))
    )


def dtmf(
    name: str,
    ch: ChannelSnapshot,
    digit: str,
    duration_ms: int | None = None,
    direction: str = "Received",
) -> Headers:
    extra = [("Digit", digit)]
    if duration_ms is not None:
        extra.append(("DurationMs", str(duration_ms)))
    extra.append(("Direction", direction))
    return event(name, "dtmf", ch.headers(), extra)


def dial_begin(caller: ChannelSnapshot | None, dest: ChannelSnapshot, dialstring: str) -> Headers:
    """The caller snapshot is absent when the dial came from Originate (as in the traces)."""
    parts = [caller.headers()] if caller is not None else []
    return event("DialBegin", "call", *parts, dest.headers("Dest"), [("DialString", dialstring)])


def dial_end(caller: ChannelSnapshot | None, dest: ChannelSnapshot, status: str) -> Headers:
    parts = [caller.headers()] if caller is not None else []
    return event("DialEnd", "call", *parts, dest.headers("Dest"), [("DialStatus", status)])


def local_bridge(one: ChannelSnapshot, two: ChannelSnapshot, optimize: bool = True) -> Headers:
    return event(
        "LocalBridge",
        "call",
        one.headers("LocalOne"),
        two.headers("LocalTwo"),
        [
            ("Context", one.context),
            ("Exten", one.exten),
            ("LocalOptimization", "Yes" if optimize else "No"),
        ],
    )


def bridge_headers(bridge_id: str, members: int, prefix: str = "") -> Headers:
    """A bridge snapshot; ``prefix`` for events about two (BridgeMerge's To/From,
    AttendedTransfer's Orig/Second)."""
    p = f"{prefix}Bridge"
    return [
        (f"{p}Uniqueid", bridge_id),
        (f"{p}Type", "basic"),
        (f"{p}Technology", "simple_bridge"),
        (f"{p}Creator", "<unknown>"),
        (f"{p}Name", "<unknown>"),
        (f"{p}NumChannels", str(members)),
        (f"{p}VideoSourceMode", "none"),
    ]


def bridge_event(name: str, bridge_id: str, members: int, ch: ChannelSnapshot | None) -> Headers:
    parts = [bridge_headers(bridge_id, members)]
    if ch is not None:
        parts.append(ch.headers())
    return event(name, "call", *parts)


def spy(name: str, spyer: ChannelSnapshot, spyee: ChannelSnapshot) -> Headers:
    return event(name, "call", spyer.headers("Spyer"), spyee.headers("Spyee"))


def originate_response(
    action_id: str | None,
    success: bool,
    channel: str,
    context: str,
    exten: str,
    reason: int,
    uniqueid: str,
    caller_num: str,
    caller_name: str,
) -> Headers:
    out: Headers = [("Event", "OriginateResponse"), ("Privilege", "call,all")]
    if action_id is not None:
        out.append(("ActionID", action_id))
    out += [
        ("Response", "Success" if success else "Failure"),
        ("Channel", channel),
        ("Context", context),
        ("Exten", exten),
        ("Reason", str(reason)),
        ("Uniqueid", uniqueid),
        ("CallerIDNum", caller_num or "<unknown>"),
        ("CallerIDName", c_escape(caller_name) or "<unknown>"),
    ]
    return out


def core_show_channel(
    ch: ChannelSnapshot, action_id: str, application: str, data: str, seconds: int, bridge: str
) -> Headers:
    h, rem = divmod(max(0, seconds), 3600)
    m, s = divmod(rem, 60)
    return [
        ("Event", "CoreShowChannel"),
        ("ActionID", action_id),
        *ch.headers(),
        ("Application", application),
        ("ApplicationData", data),
        ("Duration", f"{h:02d}:{m:02d}:{s:02d}"),
        ("BridgeId", bridge),
    ]
