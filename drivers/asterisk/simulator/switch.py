"""The simulated switch: channels, phones, bridges; every change is an AMI event.

This is the state the simulated Asterisk keeps. The FastAGI side (agi_caller.py) asks it to
create a trunk channel, answer, dial an agent, start MixMonitor...; the AMI side
(manager.py) reads it for CoreShowChannels and changes it for Originate, Hangup and
Redirect. Each change emits the events Asterisk 22 emits, in its order (snapshots.py holds
their headers), to every listener (the logged-in AMI sessions).

Devices are the phones and outside parties the switch can ring: each answers, never
answers, or is busy, after a ring time, and may hang up by itself after a talk time.
Channel names follow the real technologies: ``DAHDI/<n>-1`` for trunk channel n,
``PJSIP/<ext>-<seq>`` for desk phones, ``DAHDI/<n>-1`` again for outbound trunk calls.

What the traces do not show, and is assumed here: when the agent hangs up first after
being bridged, EXEC Dial answers ``result=0`` (DIALSTATUS ANSWER) and the caller's channel
stays up, as with Dial's ``g`` option.
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from drivers.asterisk.confgen import SPY_OPTIONS
from drivers.asterisk.simulator import snapshots as snap
from drivers.asterisk.simulator.snapshots import RING, RINGING, UP, ChannelSnapshot, Headers

Listener = Callable[[Headers], None]


@dataclass
class Device:
    """How a simulated phone or outside party behaves when rung."""

    answers: bool = True
    busy: bool = False
    ring_s: float = 1.0
    talk_s: float | None = None  # hangs up this long after answering (None: waits)
    unavailable: bool = False

    def talk_time(self, rng: random.Random) -> float | None:
        return self.talk_s


@dataclass
class RandomDevice(Device):
    """A person: rings for a while, talks an exponentially distributed time."""

    mean_talk_s: float = 30.0

    def talk_time(self, rng: random.Random) -> float | None:
        return rng.expovariate(1.0 / self.mean_talk_s)


@dataclass(eq=False)
class SimChannel(ChannelSnapshot):
    created: float = 0.0
    application: str = ""
    appdata: str = ""
    bridge: Bridge | None = None
    variables: dict[str, str] = field(default_factory=dict)
    alive: bool = True
    trunk: int | None = None
    agi: Any = None  # the SimulatedCall running this channel's FastAGI session
    agi_arg: str = ""  # the AGI's first argument when it is not the extension
    on_hangup: list[Callable[[SimChannel, int], None]] = field(default_factory=list)
    # The MixMonitor on the channel (agi_caller._MixMonitor): Asterisk's audiohook belongs to
    # the channel, not to the AGI session, so it survives a Redirect (a blind transfer) and
    # hears whatever bridge the channel is in, until StopMixMonitor or the hangup.
    monitor: Any = None


@dataclass(eq=False)
class Bridge:
    id: str
    owner: SimChannel  # the channel that dialed: when it hangs up, the others do too
    members: list[SimChannel] = field(default_factory=list)


# The generated dialplan's contexts that hand the channel to ccboxd over FastAGI, and the
# script each names (drivers/asterisk/confgen.py writes them).
AGI_CONTEXTS = {
    "ccbox-inbound": "inbound",
    "ccbox-outbound-connect": "outbound",
    "ccbox-callback": "callback",
    "ccbox-transfer-queue": "transfer-queue",
    "ccbox-transfer-agent": "transfer-agent",
    "ccbox-features": "agent",
}
# ccbox-features: the code an agent dials -> the agent script's argument.
FEATURE_CODES = {
    "*71": "login",
    "*72": "logout",
    "*73": "pause",
    "*74": "unpause",
    "*75": "wrapup_done",
}

_DIAL_TARGET = re.compile(r"^(?P<tech>[A-Za-z]+)/(?P<res>[^,/]+)(?:/[^,]*)?$")


class Switch:
    def __init__(
        self,
        clock: Any,
        epoch: int = 1795353000,
        devices: dict[str, Device] | None = None,
        default_device: Device | None = None,
        seed: int | None = None,
    ) -> None:
        self.clock = clock
        self.epoch = epoch
        self.devices: dict[str, Device] = dict(devices or {})
        self.default_device = default_device or Device()
        self.rng = random.Random(seed)
        self.channels: dict[str, SimChannel] = {}  # by uniqueid
        self.globals: dict[str, str] = {}
        self.listeners: list[Listener] = []
        self.events_emitted = 0
        self.started_at = clock.seconds()
        self._ids = itertools.count(1)
        self._seq = itertools.count(1)
        # Set by whoever runs the FastAGI side: starts a session for a channel that enters
        # a context running AGI (Originate into ccbox-outbound-connect, Redirect, ...).
        self.agi_starter: Callable[[SimChannel, str, str], None] | None = None

    # ---- events ---------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def emit(self, headers: Headers) -> None:
        self.events_emitted += 1
        for listener in list(self.listeners):
            listener(headers)

    # ---- channels -------------------------------------------------------------------------

    def next_uniqueid(self) -> str:
        return f"{self.epoch}.{next(self._ids)}"

    def _free_trunk(self) -> int:
        used = {c.trunk for c in self.channels.values() if c.trunk is not None}
        return next(n for n in itertools.count(1) if n not in used)

    def new_channel(
        self,
        name: str,
        *,
        state: int,
        context: str,
        exten: str,
        caller: tuple[str, str] = ("", ""),
        connected: tuple[str, str] = ("", ""),
        linkedid: str | None = None,
        uniqueid: str | None = None,
        trunk: int | None = None,
    ) -> SimChannel:
        uid = uniqueid or self.next_uniqueid()
        ch = SimChannel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            state=state,
            caller_num=caller[0] or "<unknown>",
            caller_name=caller[1] or "<unknown>",
            connected_num=connected[0] or "<unknown>",
            connected_name=connected[1] or "<unknown>",
            context=context,
            exten=exten,
            created=self.clock.seconds(),
            trunk=trunk,
        )
        self.channels[uid] = ch
        self.emit(snap.channel_event("Newchannel", ch))
        return ch

    def phone_call(self, device: str, exten: str) -> SimChannel:
        """A desk phone (``PJSIP/1001``) dials ``exten`` in ccbox-features: the channel is
        up at once (a feature code answers); start its FastAGI session with run_call."""
        ch = self.new_channel(
            f"{device}-{next(self._seq):08x}",
            state=UP,
            context="ccbox-features",
            exten=exten,
            caller=(device.split("/")[-1], device.split("/")[-1]),
        )
        ch.agi_arg = FEATURE_CODES.get(exten, "")
        ch.application, ch.appdata = "AGI", f"agi://127.0.0.1/agent,{ch.agi_arg}"
        return ch

    def trunk_call(self, caller_num: str, caller_name: str, dialed: str) -> SimChannel:
        """An inbound call on the lowest free E1 channel, ringing into ccbox-inbound."""
        n = self._free_trunk()
        ch = self.new_channel(
            f"DAHDI/{n}-1",
            state=RING,
            context="ccbox-inbound",
            exten=dialed,
            caller=(caller_num, caller_name),
            trunk=n,
        )
        ch.application, ch.appdata = "AGI", f"agi://127.0.0.1/inbound,{dialed}"
        return ch

    def find(self, name_or_id: str) -> SimChannel | None:
        if name_or_id in self.channels:
            return self.channels[name_or_id]
        for ch in self.channels.values():
            if ch.name == name_or_id:
                return ch
        return None

    def set_state(self, ch: SimChannel, state: int) -> None:
        if ch.alive and ch.state != state:
            ch.state = state
            self.emit(snap.channel_event("Newstate", ch))

    def dtmf(self, ch: SimChannel, digit: str) -> None:
        self.emit(snap.dtmf("DTMFBegin", ch, digit))
        self.emit(snap.dtmf("DTMFEnd", ch, digit, 100))

    def mixmonitor(self, ch: SimChannel, on: bool) -> None:
        self.emit(snap.channel_event("MixMonitorStart" if on else "MixMonitorStop", ch))

    def music_on_hold(self, ch: SimChannel, on: bool, klass: str = "default") -> None:
        if on:
            self.emit(snap.channel_event("MusicOnHoldStart", ch, ("Class", klass)))
        else:
            self.emit(snap.channel_event("MusicOnHoldStop", ch))

    def request_hangup(self, ch: SimChannel, cause: int, soft: bool = False) -> None:
        """The far end (or an action) asks the channel to hang up; Hangup follows later."""
        if ch.alive:
            name = "SoftHangupRequest" if soft else "HangupRequest"
            self.emit(snap.channel_event(name, ch, ("Cause", str(cause))))

    def hangup(self, ch: SimChannel, cause: int) -> None:
        """The channel is gone: it leaves its bridge, Hangup is emitted, watchers run."""
        if not ch.alive:
            return
        owned = ch.bridge is not None and ch.bridge.owner is ch
        left_behind = self.leave_bridge(ch)
        ch.alive = False
        if ch.monitor is not None:  # the channel goes: MixMonitor closes its files
            monitor, ch.monitor = ch.monitor, None
            monitor.write(self.clock.seconds())
        self.channels.pop(ch.uniqueid, None)
        self.emit(snap.hangup(ch, cause))
        for watcher in list(ch.on_hangup):
            watcher(ch, cause)
        if owned:
            for other in left_behind:
                self.request_hangup(other, cause)
                self.hangup(other, cause)

    # ---- bridges --------------------------------------------------------------------------

    def bridge(self, a: SimChannel, b: SimChannel) -> Bridge:
        """Bridge the dialing channel ``a`` with the answered ``b``."""
        br = Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), a)
        self.emit(snap.bridge_event("BridgeCreate", br.id, 0, None))
        for ch in (a, b):
            br.members.append(ch)
            ch.bridge = br
            self.emit(snap.bridge_event("BridgeEnter", br.id, len(br.members), ch))
            if ch.monitor is not None:
                ch.monitor.hear(self.clock.seconds())
        return br

    def leave_bridge(self, ch: SimChannel) -> list[SimChannel]:
        """``ch`` leaves; a two-party bridge then falls apart. Returns who else was in it."""
        br = ch.bridge
        if br is None:
            return []
        ch.bridge = None
        br.members.remove(ch)
        self.emit(snap.bridge_event("BridgeLeave", br.id, len(br.members), ch))
        now = self.clock.seconds()
        if ch.monitor is not None:
            ch.monitor.deaf(now)
        others = list(br.members)
        if len(others) == 1:
            others[0].bridge = None
            if others[0].monitor is not None:
                others[0].monitor.deaf(now)
            br.members.clear()
            self.emit(snap.bridge_event("BridgeLeave", br.id, 0, others[0]))
        if not br.members:
            self.emit(snap.bridge_event("BridgeDestroy", br.id, 0, None))
        return others

    # ---- ringing a device -----------------------------------------------------------------

    def device(self, target: str) -> Device:
        return self.devices.get(target, self.default_device)

    def dial(
        self,
        caller: SimChannel | None,
        target: str,
        timeout_s: float,
        caller_id: tuple[str, str] | None = None,
        uniqueid: str | None = None,
    ) -> defer.Deferred[tuple[str, SimChannel | None]]:
        """Ring ``target`` (``PJSIP/1001``); fire with (DIALSTATUS, the answered channel).

        Emits Newchannel, DialBegin, Newstate Ringing, then Newstate Up + DialEnd ANSWER,
        or DialEnd NOANSWER/BUSY/CANCEL and the callee's Hangup. A caller that hangs up
        while it rings cancels the dial. ``caller`` is None for Originate.
        """
        result: defer.Deferred[tuple[str, SimChannel | None]] = defer.Deferred(lambda _d: cancel())
        m = _DIAL_TARGET.match(target)
        if m is None:
            result.callback(("CHANUNAVAIL", None))
            return result
        tech, res = m.group("tech"), m.group("res")
        dev = self.device(f"{tech}/{res}")
        if dev.unavailable:
            result.callback(("CHANUNAVAIL", None))
            return result
        cid = caller_id or (
            (caller.caller_num, caller.caller_name) if caller is not None else ("", "")
        )
        trunk = None
        if tech == "DAHDI":
            trunk = self._free_trunk()
            name = f"DAHDI/{trunk}-1"
        else:
            name = f"{tech}/{res}-{next(self._seq):08x}"
        dest = self.new_channel(
            name,
            state=snap.DOWN,
            context=caller.context if caller is not None else "ccbox-agents",
            exten=res if caller is None else caller.exten,
            caller=cid,
            connected=cid,
            linkedid=caller.linkedid if caller is not None else None,
            uniqueid=uniqueid,
            trunk=trunk,
        )
        dest.application, dest.appdata = "AppDial", "(Outgoing Line)"
        self.emit(snap.dial_begin(caller, dest, f"{res}" if tech == "Local" else target))
        timers: list[Any] = []

        def finish(status: str, answered: SimChannel | None) -> None:
            for t in timers:
                if t.active():
                    t.cancel()
            if caller is not None and on_caller_gone in caller.on_hangup:
                caller.on_hangup.remove(on_caller_gone)
            if not result.called:
                result.callback((status, answered))

        def end_unanswered(status: str, cause: int) -> None:
            if not dest.alive:
                return
            self.emit(snap.dial_end(caller, dest, status))
            self.request_hangup(dest, cause)
            self.hangup(dest, cause)
            finish(status, None)

        def on_caller_gone(_ch: SimChannel, _cause: int) -> None:
            end_unanswered("CANCEL", 0)

        def cancel() -> None:
            end_unanswered("CANCEL", 0)

        if caller is not None:
            caller.on_hangup.append(on_caller_gone)
        if dev.busy:
            self.set_state(dest, snap.BUSY)
            self.emit(snap.dial_end(caller, dest, "BUSY"))
            self.hangup(dest, 17)
            finish("BUSY", None)
            return result
        self.set_state(dest, RINGING)

        def answer() -> None:
            if not dest.alive:
                return
            self.set_state(dest, UP)
            self.emit(snap.dial_end(caller, dest, "ANSWER"))
            finish("ANSWER", dest)

        timers.append(self.clock.callLater(timeout_s, end_unanswered, "NOANSWER", 0))
        if dev.answers and dev.ring_s < timeout_s:
            timers.append(self.clock.callLater(dev.ring_s, answer))
        return result

    def hang_up_after_talk(self, ch: SimChannel, target: str) -> None:
        """The answered device hangs up by itself after its talk time (if it has one)."""
        talk = self.device(target).talk_time(self.rng)
        if talk is None:
            return
        timer = self.clock.callLater(talk, self._device_hangs_up, ch)
        ch.on_hangup.append(lambda _c, _cause: timer.cancel() if timer.active() else None)

    def _device_hangs_up(self, ch: SimChannel) -> None:
        self.request_hangup(ch, 16)
        self.hangup(ch, 16)

    # ---- AMI actions ----------------------------------------------------------------------

    def originate(
        self, action_id: str | None, fields: dict[str, str], variables: dict[str, str]
    ) -> None:
        """Async Originate: ring the device; when answered the channel enters the context."""
        target = fields.get("Channel", "")
        context = fields.get("Context", "")
        exten = fields.get("Exten", "")
        try:
            timeout_s = int(fields.get("Timeout", "30000")) / 1000
        except ValueError:
            timeout_s = 30.0
        caller = _parse_callerid(fields.get("CallerID", ""))
        d = self.dial(None, _device_of(target), timeout_s, caller, fields.get("ChannelId"))

        def done(outcome: tuple[str, SimChannel | None]) -> None:
            status, ch = outcome
            if ch is None:
                reason = {"BUSY": 5, "NOANSWER": 3}.get(status, 0)
                self.emit(
                    snap.originate_response(
                        action_id, False, target, context, exten, reason, "<unknown>", "", ""
                    )
                )
                return
            ch.variables.update(variables)
            self.emit(
                snap.originate_response(
                    action_id, True, ch.name, context, exten, 4, ch.uniqueid, *caller
                )
            )
            self.enter(ch, context, exten)

        d.addCallback(done)

    def enter(self, ch: SimChannel, context: str, exten: str) -> None:
        """An answered channel runs dialplan: AGI contexts start a session, spy, or a phone."""
        ch.context, ch.exten, ch.priority = context, exten, 1
        script = AGI_CONTEXTS.get(context)
        if script is not None and self.agi_starter:
            ch.agi_arg = FEATURE_CODES.get(exten, "") if context == "ccbox-features" else ""
            ch.application, ch.appdata = "AGI", f"agi://127.0.0.1/{script},{ch.agi_arg or exten}"
            self.agi_starter(ch, script, exten)
        elif context == "ccbox-supervise":
            self._spy(ch, ch.variables.get("CCBOX_SPY_TARGET", ""), exten)
        elif context == "ccbox-agents":
            self._connect_to_device(ch, f"PJSIP/{exten}")
        elif context == "ccbox-outbound":
            self._connect_to_device(ch, f"DAHDI/g0/{exten}")
        elif context == "ccbox-extensions":
            self._connect_to_device(ch, f"Local/{exten}@ccbox-extensions")
        else:
            ch.application, ch.appdata = "Wait", "20"
            self.hang_up_after_talk(ch, _device_of(ch.name))

    def _connect_to_device(self, ch: SimChannel, target: str) -> None:
        ch.application, ch.appdata = "Dial", f"{target},30"
        d = self.dial(ch, target, 30)

        def done(outcome: tuple[str, SimChannel | None]) -> None:
            _status, peer = outcome
            if peer is None:
                if ch.alive:
                    self.hangup(ch, 16)
                return
            self.bridge(ch, peer)
            # No dialplan follows this Dial: when the device hangs up, so does ch.
            peer.on_hangup.append(lambda _p, cause: self.hangup(ch, cause))
            self.hang_up_after_talk(peer, target)

        d.addCallback(done)

    def _spy(self, spyer: SimChannel, target: str, mode: str) -> None:
        """The generated [ccbox-supervise] context: Answer, then ChanSpy(target,options)
        with the mode's options; Newexten shows them, as in the bridged-call-and-spy trace."""
        opts = SPY_OPTIONS.get(mode)
        if opts is None:  # no such extension in the context
            self.hangup(spyer, 1)
            return
        spyee = self.find(target)
        spyer.priority = 2
        spyer.application, spyer.appdata = "ChanSpy", f"{target},{opts}"
        self.emit(
            snap.event(
                "Newexten",
                "dialplan",
                spyer.headers(),
                [("Extension", mode), ("Application", "ChanSpy"), ("AppData", spyer.appdata)],
            )
        )
        if spyee is None:
            self.hangup(spyer, 16)
            return
        self.emit(snap.spy("ChanSpyStart", spyer, spyee))

        def stop(*_: Any) -> None:
            if spyer.alive and spyee is not None:
                self.emit(snap.spy("ChanSpyStop", spyer, spyee))
                if not spyee.alive:
                    self.hangup(spyer, 16)

        spyee.on_hangup.append(stop)
        spyer.on_hangup.append(stop)

    def redirect(self, ch: SimChannel, context: str, exten: str) -> None:
        """Blind transfer: the channel leaves its bridge or AGI and continues elsewhere."""
        for other in self.leave_bridge(ch):
            self.request_hangup(other, 16)
            self.hangup(other, 16)
        if ch.agi is not None:
            ch.agi.redirected()
            ch.agi = None
        self.enter(ch, context, exten)

    def show_channels(self, action_id: str) -> list[Headers]:
        now = self.clock.seconds()
        return [
            snap.core_show_channel(
                ch,
                action_id,
                ch.application,
                ch.appdata,
                int(now - ch.created),
                ch.bridge.id if ch.bridge is not None else "",
            )
            for ch in self.channels.values()
        ]


def _device_of(channel: str) -> str:
    """``PJSIP/1001`` or ``Local/1001@ccbox-agents`` -> the device the switch rings."""
    if channel.startswith("Local/"):
        exten, _, context = channel[6:].partition("@")
        context = context.split("/")[0]
        if context == "ccbox-outbound":
            return f"DAHDI/g0/{exten}"
        return f"PJSIP/{exten}"
    return channel.split("-")[0] if re.match(r"^[A-Za-z]+/.*-[0-9a-f]+$", channel) else channel


_CALLERID = re.compile(r'^\s*"?(?P<name>[^"<]*)"?\s*<(?P<num>[^>]*)>\s*$')


def _parse_callerid(value: str) -> tuple[str, str]:
    m = _CALLERID.match(value)
    if m:
        return m.group("num"), m.group("name").strip()
    return (value, "") if value else ("", "")
