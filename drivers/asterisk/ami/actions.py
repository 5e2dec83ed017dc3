"""Typed AMI actions ccbox sends, each value checked against an allowlist before it is sent.

Callers pass numbers, channel names and variables that may come from a caller ID, a web
form or a CSV row. Every field is checked here (the writer below also refuses CR/LF):
numbers are ASCII digits (``+``, ``*``, ``#`` where dialing allows), channels match a strict
technology/resource shape with no ``&`` (parallel dial) and no ``$`` (expressions), and
Originate never runs an application: it always enters a dialplan context of ours, which
is where ChanSpy, MixMonitor and friends run (see the generated dialplan).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from twisted.internet import defer

from drivers.asterisk.ami.codec import Message
from drivers.asterisk.ami.protocol import ListResult

# No SIP/: Asterisk 22 has no chan_sip.
_CHANNEL = re.compile(r"(PJSIP|IAX2|DAHDI|Local)/[A-Za-z0-9_.+*#@;/-]{1,80}\Z")
_NUMBER = re.compile(r"\+?[0-9*#]{1,32}\Z")
_DIALPLAN_NAME = re.compile(r"[A-Za-z0-9_+*#.-]{1,64}\Z")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
_CHANNEL_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
# A file MixMonitor writes: absolute, plain names (no spaces, commas, parentheses, ``$``).
HANGUP_CAUSES = {16, 17, 18, 19, 21, 27, 34, 38}
SPY_MODES = {"listen": "", "whisper": "w", "barge": "B"}
SUPERVISE_CONTEXT = "ccbox-supervise"
# Auto-answer for a PJSIP desk phone (Call-Info for most phones, Alert-Info for Polycom and
# Yealink): fixed values written as PJSIP_HEADER() by Originate's Variable headers, which
# Asterisk sets on the new channel before calling it (pbx.c pbx_outgoing_attempt:
# ast_set_variables, a function name written with ast_func_write). Its PreDialGoSub would do
# the same but is ignored with Async (manager.c passes it to the synchronous path only).
AUTO_ANSWER_HEADERS = (
    ("PJSIP_HEADER(add,Call-Info)", "<sip:ccbox>;answer-after=0"),
    ("PJSIP_HEADER(add,Alert-Info)", "<http://ccbox/>;info=alert-autoanswer;delay=0"),
)


class BadActionValue(ValueError):
    """A value for an AMI action did not pass its allowlist."""


class ActionSender(Protocol):
    def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = ...
    ) -> defer.Deferred[Message]: ...

    def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), timeout: float | None = ...
    ) -> defer.Deferred[ListResult]: ...


def check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.match(value):
        raise BadActionValue(f"{what} {str(value)[:60]!r} is not allowed")
    return value


def channel(value: str) -> str:
    """A channel or dial target such as PJSIP/1001, DAHDI/g1/5551234, Local/1001@ctx/n."""
    return check(_CHANNEL, value, "channel")


def number(value: str) -> str:
    """A phone number: ASCII digits (full-width digits and letters are refused)."""
    return check(_NUMBER, value, "number")


def dialplan_name(value: str, what: str = "context or extension") -> str:
    return check(_DIALPLAN_NAME, value, what)


def variables(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """``Variable: NAME=value`` headers. Asterisk splits values on commas, so they are
    refused, as are expressions (``${``, ``$[``) that dialplan might evaluate later."""
    out = []
    for name, value in values.items():
        check(_VAR_NAME, name, "variable name")
        if "," in value or "${" in value or "$[" in value or any(ord(c) < 32 for c in value):
            raise BadActionValue(
                f"value of {name} has a comma, an expression or a control character"
            )
        out.append(("Variable", f"{name}={value}"))
    return out


def caller_id(name: str, num: str) -> str:
    """``"Name" <number>``; quotes and angle brackets in the name are dropped."""
    clean = "".join(c for c in name if c not in '"<>' and ord(c) >= 32)[:80]
    return f'"{clean}" <{number(num)}>'


@dataclass(frozen=True)
class Originated:
    """An async Originate that Asterisk queued; events will carry ``channel_id``."""

    action_id: str | None
    channel_id: str


async def originate(
    ami: ActionSender,
    dial: str,
    context: str,
    exten: str,
    *,
    priority: int = 1,
    timeout_s: float = 30,
    caller: tuple[str, str] | None = None,
    variables_: Mapping[str, str] | None = None,
    channel_id: str | None = None,
    auto_answer: bool = False,
) -> Originated:
    """Always ``Async: true`` (a synchronous Originate blocks the AMI session), always into
    a dialplan context, never an Application; ``ChannelId`` lets events be matched before
    OriginateResponse arrives. ``auto_answer``: the SIP headers that make a PJSIP phone
    answer by itself (``AUTO_ANSWER_HEADERS``)."""
    cid = channel_id or f"ccbox-{uuid.uuid4().hex[:20]}"
    check(_CHANNEL_ID, cid, "channel id")
    headers = [
        ("Channel", channel(dial)),
        ("Context", dialplan_name(context)),
        ("Exten", dialplan_name(exten)),
        ("Priority", str(int(priority))),
        ("Async", "true"),
        ("Timeout", str(int(timeout_s * 1000))),
        ("ChannelId", cid),
    ]
    if caller is not None:
        headers.append(("CallerID", caller_id(*caller)))
    headers.extend(variables(variables_ or {}))
    if auto_answer:
        headers.extend(("Variable", f"{name}={value}") for name, value in AUTO_ANSWER_HEADERS)
    resp = await ami.send_action("Originate", headers)
    return Originated(resp.action_id, cid)


async def redirect(
    ami: ActionSender,
    chan: str,
    context: str,
    exten: str,
    extra_channel: str | None = None,
    priority: int = 1,
) -> Message:
    """Blind transfer: move ``chan`` (and ``extra_channel``, the other leg) to context/exten."""
    headers = [
        ("Channel", channel(chan)),
        ("Context", dialplan_name(context)),
        ("Exten", dialplan_name(exten)),
        ("Priority", str(int(priority))),
    ]
    if extra_channel is not None:
        headers += [
            ("ExtraChannel", channel(extra_channel)),
            ("ExtraContext", dialplan_name(context)),
            ("ExtraExten", dialplan_name(exten)),
            ("ExtraPriority", str(int(priority))),
        ]
    return await ami.send_action("Redirect", headers)


async def atxfer(ami: ActionSender, chan: str, exten: str, context: str) -> Message:
    """Attended transfer (needs the atxfer feature code in features.conf)."""
    return await ami.send_action(
        "Atxfer",
        [
            ("Channel", channel(chan)),
            ("Exten", dialplan_name(exten)),
            ("Context", dialplan_name(context)),
        ],
    )


async def hangup(ami: ActionSender, chan: str, cause: int = 16) -> Message:
    if cause not in HANGUP_CAUSES:
        raise BadActionValue(f"hangup cause {cause} is not allowed")
    return await ami.send_action("Hangup", [("Channel", channel(chan)), ("Cause", str(cause))])


async def setvar(ami: ActionSender, chan: str, name: str, value: str) -> Message:
    [(_, assignment)] = variables({name: value})
    return await ami.send_action(
        "Setvar",
        [("Channel", channel(chan)), ("Variable", name), ("Value", assignment.split("=", 1)[1])],
    )


async def getvar(ami: ActionSender, chan: str, name: str) -> str | None:
    check(_VAR_NAME, name, "variable name")
    resp = await ami.send_action("Getvar", [("Channel", channel(chan)), ("Variable", name)])
    return resp.get("Value")


async def stop_mixmonitor(ami: ActionSender, chan: str) -> Message:
    return await ami.send_action("StopMixMonitor", [("Channel", channel(chan))])


async def mute_mixmonitor(
    ami: ActionSender, chan: str, muted: bool, direction: str = "both"
) -> Message:
    """Pause/resume what a recording hears (PCI: card numbers); direction read/write/both."""
    if direction not in ("read", "write", "both"):
        raise BadActionValue("direction must be read, write or both")
    return await ami.send_action(
        "MixMonitorMute",
        [("Channel", channel(chan)), ("Direction", direction), ("State", "1" if muted else "0")],
    )


DTMF_DIGITS = frozenset("0123456789*#ABCD")
MUTE_DIRECTIONS = ("in", "out", "all")


async def play_dtmf(ami: ActionSender, chan: str, digit: str, receive: bool = False) -> Message:
    """One DTMF digit. ``receive``: as if the phone pressed it (Asterisk queues the digit on
    the channel's read side, where the bridge's feature hooks see it, e.g. ``*3`` that turns
    an attended transfer's consultation into a three-way call); else played to the phone."""
    if not isinstance(digit, str) or len(digit) != 1 or digit not in DTMF_DIGITS:
        raise BadActionValue(f"DTMF digit {str(digit)[:8]!r} is not allowed")
    headers = [("Channel", channel(chan)), ("Digit", digit)]
    if receive:
        headers.append(("Receive", "true"))
    return await ami.send_action("PlayDTMF", headers)


async def mute_audio(ami: ActionSender, chan: str, muted: bool, direction: str = "in") -> Message:
    """Mute what ``chan`` sends (``in``: from its phone into the call), receives (``out``) or
    both (``all``), through res_mutestream's MUTEAUDIO() function written by Setvar: the
    module's own MuteAudio action needs AMI ``system`` write, which ccbox never holds."""
    if direction not in MUTE_DIRECTIONS:
        raise BadActionValue(f"mute direction must be one of {', '.join(MUTE_DIRECTIONS)}")
    return await ami.send_action(
        "Setvar",
        [
            ("Channel", channel(chan)),
            ("Variable", f"MUTEAUDIO({direction})"),
            ("Value", "on" if muted else "off"),
        ],
    )


_MUSIC_CLASS = re.compile(r"[A-Za-z0-9_-]{1,32}\Z")


async def set_music_class(ami: ActionSender, chan: str, music_class: str) -> Message:
    """The music on hold class ``chan`` hears when a bridge puts it on hold (the desk's
    hold): ``CHANNEL(musicclass)`` written by Setvar."""
    check(_MUSIC_CLASS, music_class, "music on hold class")
    return await ami.send_action(
        "Setvar",
        [("Channel", channel(chan)), ("Variable", "CHANNEL(musicclass)"), ("Value", music_class)],
    )


async def core_show_channels(ami: ActionSender) -> list[Message]:
    return (await ami.send_list_action("CoreShowChannels")).events


async def device_states(ami: ActionSender) -> dict[str, str]:
    result = await ami.send_list_action("DeviceStateList")
    return {e.get("Device", ""): e.get("State", "") for e in result.events}


async def extension_state(ami: ActionSender, exten: str, context: str) -> Message:
    return await ami.send_action(
        "ExtensionState", [("Exten", dialplan_name(exten)), ("Context", dialplan_name(context))]
    )


async def supervise(
    ami: ActionSender, supervisor_device: str, target_channel: str, mode: str, timeout_s: float = 30
) -> Originated:
    """Ring the supervisor's phone; when answered it runs ChanSpy on the agent's channel.

    The generated ``[ccbox-supervise]`` context maps listen/whisper/barge to ChanSpy
    options (q quiet, E exit with the target, u exact target; w whisper, B barge)."""
    if mode not in SPY_MODES:
        raise BadActionValue(f"supervision mode must be one of {sorted(SPY_MODES)}")
    return await originate(
        ami,
        supervisor_device,
        SUPERVISE_CONTEXT,
        mode,
        timeout_s=timeout_s,
        caller=("ccbox " + mode, "0"),
        variables_={"CCBOX_SPY_TARGET": channel(target_channel)},
    )
