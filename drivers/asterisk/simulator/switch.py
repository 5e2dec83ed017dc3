"""The simulated switch: channels, phones, bridges; every change is an AMI event.

This is the state the simulated Asterisk keeps. The FastAGI side (agi_caller.py) asks it to
create a trunk channel, answer, dial an agent, start MixMonitor...; the AMI side
(manager.py) reads it for CoreShowChannels and changes it for Originate, Hangup and
Redirect. Each change emits the events Asterisk 22 emits, in its order (snapshots.py holds
their headers), to every listener (the logged-in AMI sessions).

Devices are the phones and outside parties the switch can ring: each answers, never
answers, or is busy, after a ring time, and may hang up by itself after a talk time.
Channel names follow the real technologies: ``DAHDI/<n>-1`` for trunk channel n (analog or
CAS; with ``pri_spans`` ISDN PRI's ``DAHDI/i<span>/<caller>-<hex>``, which names no channel:
chan_dahdi's DAHDIChannel event, sent after Newchannel, says which one carries it),
``PJSIP/<ext>-<8 hex>`` for desk phones, ``IAX2/<peer>-<decimal call number>``,
``Local/<exten>@<context>-<8 hex>;1`` for the leg a Dial of a Local device hands back
(device-channel-names.txt), ``DAHDI/<n>-1`` again for outbound trunk calls.

The switch runs the dialplan ``ccbox asterisk-config`` writes (``dialplan=``, by default the
generated one for the FastAGI address given): Originate, Redirect and the dialplan's own
Goto go where Asterisk's pattern rules send them (pbx.py runs the steps), and an extension
that does not exist fails as it fails on Asterisk. Uniqueids are ``<epoch seconds>.<n>``
from the clock, as Asterisk makes them, so a second run never repeats the first one's ids.

What the traces do not show, and is assumed here: when the agent hangs up first after
being bridged, EXEC Dial answers ``result=0`` (DIALSTATUS ANSWER) and the caller's channel
stays up, as with Dial's ``g`` option.
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import defer

from drivers.asterisk import confgen
from drivers.asterisk.device_names import device_of_channel
from drivers.asterisk.dialplan import Dialplan, parse
from drivers.asterisk.simulator import snapshots as snap
from drivers.asterisk.simulator.pbx import Pbx, Unsupported, log
from drivers.asterisk.simulator.snapshots import RING, RINGING, UP, ChannelSnapshot, Headers
from drivers.asterisk.simulator.sounds import SoundLibrary

Listener = Callable[[Headers], None]


@dataclass
class Device:
    """How a simulated phone or outside party behaves when rung."""

    answers: bool = True
    busy: bool = False
    ring_s: float = 1.0
    talk_s: float | None = None  # hangs up this long after answering (None: waits)
    unavailable: bool = False
    congested: bool = False  # the network answers congestion (cause 34)

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
    # Dial's feature options granted to this leg (agi_caller.py sets them): the callee gets
    # t h k w x, the caller T H K W X lowercased. "t" = may transfer (AMI Atxfer works).
    features: set[str] = field(default_factory=set)
    # HANGUPCAUSE: what the channel's Hangup says when its dialplan ends (a Dial's BUSY
    # leaves 17, CHANUNAVAIL 20, NOANSWER 0: the hangup-causes trace).
    hangupcause: int = 0
    # Whoever created the channel (trunk_call, phone_call) runs its FastAGI session: the
    # dialplan's AGI step must not start a second one.
    agi_preset: bool = False
    # A Local channel's other half (;1 <-> ;2), whether the pair optimizes itself away once
    # both halves are bridged (no /n), and on ;2 and what it dials the device whose
    # behaviour a test configured for the Local target ("Local/1001@ccbox-agents").
    local_peer: SimChannel | None = None
    local_optimize: bool = False
    device_hint: str = ""
    on_up: list[Callable[[], None]] = field(default_factory=list)  # run once when answered
    transfer: Any = None  # the AttendedTransfer (transfer.py) this channel started
    # An outside party reached through a trunk (called_parties.CalledParty): what it says
    # (AMD() analyses it) and when it hangs up.
    party: Any = None
    on_bridged: list[Callable[[], None]] = field(default_factory=list)  # run once bridged


@dataclass(eq=False)
class Bridge:
    id: str
    owner: SimChannel  # the channel that dialed: when it hangs up, the others do too
    members: list[SimChannel] = field(default_factory=list)
    closed: bool = False  # BridgeDestroy was sent


def generated_dialplan(agi_host: str = "127.0.0.1", agi_port: int = 4573) -> Dialplan:
    """What ``ccbox asterisk-config`` writes for a ccboxd whose FastAGI is there."""
    settings = confgen.AsteriskSettings(agi_bind=agi_host, agi_port=agi_port)
    return parse(confgen.extensions_conf(settings), "extensions_ccbox.conf")


# The channel technologies of a ccbox box (Asterisk 22: no chan_sip).
TECHNOLOGIES = frozenset({"PJSIP", "IAX2", "DAHDI", "Local"})
_DIAL_TARGET = re.compile(r"^(?P<tech>[A-Za-z][A-Za-z0-9]*)/(?P<res>[^,/]+)(?:/[^,]*)?$")


class Switch:
    def __init__(
        self,
        clock: Any,
        devices: dict[str, Device] | None = None,
        default_device: Device | None = None,
        seed: int | None = None,
        sounds: SoundLibrary | None = None,
        dialplan: Dialplan | None = None,
    ) -> None:
        self.clock = clock
        self.pbx = Pbx(self, dialplan if dialplan is not None else generated_dialplan())
        # What STREAM FILE & co. can play (agi_caller.py); only core sounds unless given.
        self.sounds = sounds if sounds is not None else SoundLibrary()
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
        self._iax_calls = itertools.count(self.rng.randint(2, 16000))
        self._local_ids = itertools.count(0x60)  # one counter for every Local pair
        self._optimizations = itertools.count(1)
        # Hangup watchers that belong to the channel itself (a spy's end), not to the party
        # it plays in a bridge: a transfer or an optimization does not hand them on.
        self._pinned: weakref.WeakSet[Callable[..., None]] = weakref.WeakSet()
        self._device_states: dict[str, str] = {}  # device -> the state last announced
        # Set by whoever runs the FastAGI side: starts a session for a channel that enters
        # a context running AGI (Originate into ccbox-callback, Redirect, ...).
        self.agi_starter: Callable[[SimChannel, str, str], None] | None = None
        # Who answers the numbers dialed out on a DAHDI trunk (called_parties.Population);
        # None: the trunk behaves as ``default_device``.
        self.population: Any = None
        # The E1 trunks are ISDN PRI (31 channels a span): DAHDI channels are named as
        # chan_dahdi names a PRI call (create_channel_name), not DAHDI/<n>-1.
        self.pri_spans = False
        self._pri_seq = itertools.count(1)

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
        """Asterisk's ``<seconds since 1970>.<counter>``: the creation time, so ids of a
        later run (or a restarted switch) never repeat an earlier run's."""
        return f"{int(self.clock.seconds())}.{next(self._ids)}"

    @property
    def dialplan(self) -> Dialplan:
        return self.pbx.dialplan

    @staticmethod
    def trunk_span(channel: int) -> int:
        return (channel - 1) // 31 + 1  # E1: 31 channels a span

    def trunk_name(self, channel: int, address: str) -> str:
        """The name chan_dahdi gives a call on DAHDI ``channel``: ``DAHDI/<n>-1`` (analog,
        CAS) or, on PRI, ``DAHDI/i<span>/<address>-<hex>`` (the caller's number inbound, the
        dialed one outbound)."""
        if not self.pri_spans:
            return f"DAHDI/{channel}-1"
        return f"DAHDI/i{self.trunk_span(channel)}/{address}-{next(self._pri_seq):x}"

    def _free_trunk(self) -> int:
        used = {c.trunk for c in self.channels.values() if c.trunk is not None}
        if self.pri_spans:  # timeslot 16 of each E1 span is the PRI's D-channel
            used |= {n for n in range(16, max(used, default=0) + 2, 31)}
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
        if trunk is not None:
            # chan_dahdi's dahdi_new: which DAHDI channel carries it, before the dialplan runs
            self.emit(
                snap.channel_event(
                    "DAHDIChannel",
                    ch,
                    ("DAHDIGroup", "1"),
                    ("DAHDISpan", str(self.trunk_span(trunk))),
                    ("DAHDIChannel", str(trunk)),
                )
            )
        if name.startswith("Local/"):
            self._device_state(ch)
        return ch

    def _device_state(self, ch: SimChannel) -> None:
        """DeviceStateChange for the device ``ch`` is a leg of, named as Asterisk names it
        (``IAX2/1001``, ``Local/1001@agent-phones``), when its state changes: RINGING, INUSE
        while a leg is up (a Local pair from its creation), then NOT_INUSE (UNKNOWN for IAX2
        peers, as the lab's unqualified peers showed)."""
        device = device_of_channel(ch.name)
        if device is None or ch.trunk is not None:
            return
        legs = [
            c for c in self.channels.values() if c.alive and device_of_channel(c.name) == device
        ]
        if not legs:
            state = "UNKNOWN" if device.startswith("IAX2/") else "NOT_INUSE"
        elif device.startswith("Local/") or any(c.state == UP for c in legs):
            state = "INUSE"
        elif any(c.state == RINGING for c in legs):
            state = "RINGING"
        else:
            return
        if self._device_states.get(device) != state:
            self._device_states[device] = state
            self.emit(
                [
                    ("Event", "DeviceStateChange"),
                    ("Privilege", "call,all"),
                    ("Device", device),
                    ("State", state),
                ]
            )

    def phone_call(self, device: str, exten: str) -> SimChannel:
        """A desk phone (``PJSIP/1001``) dials ``exten`` in ccbox-features: the channel is
        up at once (a feature code answers); start its FastAGI session with run_call."""
        self._check_entry("ccbox-features", exten)
        ch = self.new_channel(
            f"{device}-{next(self._seq):08x}",
            state=UP,
            context="ccbox-features",
            exten=exten,
            caller=(device.split("/")[-1], device.split("/")[-1]),
        )
        self._run_to_agi(ch)
        return ch

    def trunk_call(self, caller_num: str, caller_name: str, dialed: str) -> SimChannel:
        """An inbound call on the lowest free E1 channel, ringing into ccbox-inbound; the
        dialplan runs up to its AGI step (the caller then connects to FastAGI itself)."""
        self._check_entry("ccbox-inbound", dialed)
        n = self._free_trunk()
        ch = self.new_channel(
            self.trunk_name(n, caller_num),
            state=RING,
            context="ccbox-inbound",
            exten=dialed,
            caller=(caller_num, caller_name),
            trunk=n,
        )
        self._run_to_agi(ch)
        return ch

    def _check_entry(self, context: str, exten: str) -> None:
        """A call the simulator places itself must enter an extension that exists and that
        it can run: loudly refused otherwise (Asterisk would hang it up at once)."""
        if not self.dialplan.exists(context, exten):
            raise Unsupported(f"{exten}@{context} does not exist in the dialplan")
        why = self.pbx.unsupported(context, exten)
        if why is not None:
            raise Unsupported(why)

    def _run_to_agi(self, ch: SimChannel) -> None:
        ch.agi_preset = True
        self.pbx.start(ch, ch.context, ch.exten, 1)
        if ch.agi_preset or ch.application != "AGI":
            raise Unsupported(f"{ch.exten}@{ch.context} does not reach FastAGI at once")

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
            self._device_state(ch)
            if state == UP:
                waiting, ch.on_up = ch.on_up, []
                for answered in waiting:
                    answered()

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

    def request_hangup(self, ch: SimChannel, cause: int | None, soft: bool = False) -> None:
        """The far end (or an action) asks the channel to hang up; Hangup follows later.
        ``cause`` None: a request without a Cause header (a Dial that timed out)."""
        if ch.alive:
            name = "SoftHangupRequest" if soft else "HangupRequest"
            extra = [("Cause", str(cause))] if cause is not None else []
            self.emit(snap.channel_event(name, ch, *extra))

    def hangup(self, ch: SimChannel, cause: int) -> None:
        """The channel is gone: it leaves its bridge, Hangup is emitted, watchers run."""
        if not ch.alive:
            return
        if ch.transfer is not None:  # a transferer hanging up completes its Atxfer
            ch.transfer.transferer_gone()
        owned = ch.bridge is not None and ch.bridge.owner is ch
        left_behind = self.leave_bridge(ch)
        ch.alive = False
        if ch.monitor is not None:  # the channel goes: MixMonitor closes its files
            monitor, ch.monitor = ch.monitor, None
            monitor.write(self.clock.seconds())
        self.channels.pop(ch.uniqueid, None)
        peer, ch.local_peer = ch.local_peer, None
        peer_cause = 0 if cause == 34 else cause  # ;2 congested: ;1 says 0 (the trace)
        asked = peer is not None and peer.alive and peer.state == UP and ch.state == UP
        if asked and peer is not None:  # an answered pair: the other half is asked first
            self.request_hangup(peer, peer_cause)
        self.emit(snap.hangup(ch, cause))
        self._device_state(ch)
        for watcher in list(ch.on_hangup):
            watcher(ch, cause)
        if owned:
            for other in left_behind:
                self.request_hangup(other, cause)
                self.hangup(other, cause)
        if peer is not None and peer.alive:  # a Local pair ends together
            peer.local_peer = None
            if not asked:
                self.request_hangup(peer, peer_cause)
            if peer.application not in ("AppDial", ""):  # its dialplan ends too
                self.request_hangup(peer, 16, soft=True)
            self.hangup(peer, peer_cause)

    # ---- bridges --------------------------------------------------------------------------

    def new_bridge(self, owner: SimChannel) -> Bridge:
        """An empty bridge (BridgeCreate); ``owner``'s hangup ends the others in it."""
        br = Bridge(str(uuid.UUID(int=self.rng.getrandbits(128), version=4)), owner)
        self.emit(snap.bridge_event("BridgeCreate", br.id, 0, None))
        return br

    def close_bridge(self, br: Bridge | None) -> None:
        if br is not None and not br.members and not br.closed:
            br.closed = True
            self.emit(snap.bridge_event("BridgeDestroy", br.id, 0, None))

    def bridge(self, a: SimChannel, b: SimChannel) -> Bridge:
        """Bridge the dialing channel ``a`` with the answered ``b``."""
        br = self.new_bridge(a)
        for ch in (a, b):
            br.members.append(ch)
            ch.bridge = br
            self.emit(snap.bridge_event("BridgeEnter", br.id, len(br.members), ch))
            if ch.monitor is not None:
                ch.monitor.hear(self.clock.seconds())
        for ch in (a, b):
            waiting, ch.on_bridged = ch.on_bridged, []
            for bridged in waiting:
                bridged()
        for ch in (a, b):
            self._maybe_optimize(ch)
        return br

    # ---- Local channels -------------------------------------------------------------------

    def _maybe_optimize(self, ch: SimChannel) -> None:
        """Once both halves of a Local pair (without /n) are bridged, Asterisk swaps the
        pair out about 20 ms later (local-optimization-callback.trace)."""
        peer = ch.local_peer
        if peer is None or ch.bridge is None or peer.bridge is None:
            return
        one = ch if ch.local_optimize or not peer.local_optimize else peer
        if one.local_optimize:
            # Which party moves depends on which side sends media first; the traces show
            # the phone a ;2 dialed moving into the caller's bridge (device-channel-names)
            # and, when ;2 dialed the outside line (a callback), the agent moving into ;2's
            # bridge (local-optimization-callback). The simulator follows each.
            two = one.local_peer
            far = [m for m in (two.bridge.members if two and two.bridge else []) if m is not two]
            outside = bool(far) and far[0].trunk is not None
            self.optimize_soon(one, caller_moves=outside)

    def optimize_soon(self, one: SimChannel, caller_moves: bool = False) -> None:
        peer = one.local_peer
        if peer is None or one.bridge is None or peer.bridge is None or not one.local_optimize:
            return
        one.local_optimize = peer.local_optimize = False  # once
        self.clock.callLater(0.02, self._optimize, one, caller_moves)

    def swap_watchers(self, old: SimChannel, new: SimChannel) -> None:
        """Whoever waited on ``old``'s hangup as a party of a bridge (a Dial) now waits on
        ``new``, which took its place."""
        moving = [w for w in old.on_hangup if w not in self._pinned]
        old.on_hangup = [w for w in old.on_hangup if w in self._pinned]
        new.on_hangup.extend(moving)

    def move(self, ch: SimChannel, dst: Bridge) -> None:
        """``ch`` leaves its bridge (which does not fall apart) for ``dst``."""
        src = ch.bridge
        now = self.clock.seconds()
        if src is not None:
            src.members.remove(ch)
            self.emit(snap.bridge_event("BridgeLeave", src.id, len(src.members), ch))
            if ch.monitor is not None:
                ch.monitor.deaf(now)
        dst.members.append(ch)
        ch.bridge = dst
        self.emit(snap.bridge_event("BridgeEnter", dst.id, len(dst.members), ch))
        if ch.monitor is not None:
            ch.monitor.hear(now)

    def _optimize(self, one: SimChannel, caller_moves: bool = False) -> None:
        """The swap the traces show for ``Local/1001@ccbox-agents``: the party ;2 dialed
        takes ;1's place in the caller's bridge, then both halves hang up (16), no Rename,
        and LocalOptimizationEnd says ``Success: No`` although the swap completed. With
        ``caller_moves`` the other way, as after the attended transfer and in
        local-optimization-callback: the party bridged with ;1 moves into ;2's bridge
        (which way depends on which half Asterisk checks first)."""
        two = one.local_peer
        if two is None or not (one.alive and two.alive) or one.bridge is None:
            return
        b1, b2 = one.bridge, two.bridge
        others = [m for m in (b2.members if b2 else []) if m is not two]
        callers = [m for m in b1.members if m is not one]
        if b2 is None or len(others) != 1 or len(callers) != 1:
            return  # not a two-party bridge on each side: Asterisk does not swap either
        if caller_moves:
            # the caller leaves ;1's bridge for ;2's; the far party's Dial now waits on it
            self._swap_in(one, two, callers[0], gone=two, dest=one, watcher=others[0])
        else:
            # the far party leaves ;2's bridge for ;1's place beside the caller
            self._swap_in(one, two, others[0], gone=one, dest=two, watcher=others[0])

    def _swap_in(
        self,
        one: SimChannel,
        two: SimChannel,
        source: SimChannel,
        gone: SimChannel,
        dest: SimChannel,
        watcher: SimChannel,
    ) -> None:
        """One Local optimization: ``source`` leaves its bridge and takes the place of
        ``gone`` (the half of the pair in the other bridge), between the Begin and End events
        the traces show; then whoever waited on ;1 waits on ``watcher``, and both halves hang
        up 16 (;2 with a SoftHangupRequest when it was the half that left its bridge, as in
        local-optimization-callback)."""
        into, leaving = gone.bridge, source.bridge
        assert into is not None and leaving is not None
        ident = str(next(self._optimizations))
        self.emit(
            snap.event(
                "LocalOptimizationBegin",
                "call",
                one.headers("LocalOne"),
                two.headers("LocalTwo"),
                source.headers("Source"),
                [("DestUniqueId", dest.uniqueid), ("Id", ident)],
            )
        )
        leaving.members.remove(source)
        self.emit(snap.bridge_event("BridgeLeave", leaving.id, len(leaving.members), source))
        into.members.remove(gone)
        gone.bridge = None
        self.emit(snap.bridge_event("BridgeLeave", into.id, len(into.members), gone))
        into.members.append(source)
        source.bridge = into
        if into.owner is gone:
            into.owner = source
        self.emit(snap.bridge_event("BridgeEnter", into.id, len(into.members), source))
        self.emit(
            snap.event(
                "LocalOptimizationEnd",
                "call",
                one.headers("LocalOne"),
                two.headers("LocalTwo"),
                [("Success", "No"), ("Id", ident)],
            )
        )
        self.swap_watchers(one, watcher)
        one.local_peer = two.local_peer = None
        self.request_hangup(one, 16)
        self.hangup(one, 16)
        self.request_hangup(two, 16, soft=gone is two)
        self.hangup(two, 16)

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
        self.close_bridge(br)
        return others

    def pin(self, watcher: Callable[..., None]) -> None:
        """``watcher`` stays on its channel when a transfer or an optimization hands the
        channel's place in a bridge to another (swap_watchers)."""
        self._pinned.add(watcher)

    # ---- ringing a device -----------------------------------------------------------------

    def device(self, target: str, hint: str = "") -> Device:
        """How ``target`` behaves; a device a Local ;2 dials behaves as configured for the
        Local target when the test configured that (``hint``)."""
        found = self.devices.get(target)
        if found is None and hint:
            found = self.devices.get(hint)
        return found if found is not None else self.default_device

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
        while it rings cancels the dial. ``caller`` is None for Originate. Causes as the
        hangup-causes trace: BUSY 17 on the callee's HangupRequest and Hangup (and the
        caller's HANGUPCAUSE), NOANSWER a HangupRequest without Cause and Hangup 0, CANCEL
        16, CHANUNAVAIL no channel and no event at all (HANGUPCAUSE 20).

        ``Local/<exten>@<context>[/n]`` is a pair: ``;1`` (handed back: DialBegin,
        DIALEDPEERNAME) and ``;2``, which runs the dialplan at exten@context; ;1 answers when
        ;2 does, fails as ;2's hangup cause says (17 BUSY, 34 CONGESTION, 20 CHANUNAVAIL,
        else NOANSWER), and without /n the pair optimizes itself away once both halves are
        bridged (``_optimize``). An exten@context that does not exist is CHANUNAVAIL.
        """
        result: defer.Deferred[tuple[str, SimChannel | None]] = defer.Deferred(lambda _d: cancel())
        m = _DIAL_TARGET.match(target)
        hint = caller.device_hint if caller is not None else ""
        local = m is not None and m.group("tech") == "Local"
        options = target.split("/", 2)[2] if local and target.count("/") >= 2 else ""
        if options and options != "n":
            # /m, /b, /j change how the pair behaves (music, bridging, jitter buffer).
            self.pbx.refusals.append(f"the simulator does not model the Local option /{options}")
            log.error("simulator refuses {target}: Local option not modelled", target=target)
            m = None
        local_exten, _, local_context = (m.group("res") if local and m else "").partition("@")
        dev = (
            self.device(f"{m.group('tech')}/{m.group('res')}", hint)
            if m is not None and not local
            else None
        )
        outside = target.split("/")
        if (
            dev is not None
            and self.population is not None
            and outside[0] == "DAHDI"
            and len(outside) == 3
        ):
            dev = self.population.party(outside[2])  # DAHDI/g0/<number>: a called party
        if m is not None and m.group("tech") not in TECHNOLOGIES:
            # "Unable to create channel of type 'SIP' (cause 66 - Channel not implemented)":
            # Asterisk 22 has no chan_sip, and the simulator no other channel driver.
            if caller is not None:
                caller.hangupcause = 66
            result.callback(("CHANUNAVAIL", None))
            return result
        if (
            m is None
            or (not local and (dev is None or dev.unavailable))
            or (local and not self.dialplan.exists(local_context, local_exten))
        ):
            if caller is not None:
                caller.hangupcause = 20
            result.callback(("CHANUNAVAIL", None))
            return result
        tech, res = m.group("tech"), m.group("res")
        cid = caller_id or (
            (caller.caller_num, caller.caller_name) if caller is not None else ("", "")
        )
        # app_dial's stored_clid: the leg Dial creates is "called" by the dialing channel's
        # extension with the caller's name; its connected line is the caller (the traces:
        # CallerIDNum 4008001234, ConnectedLineNum 13800138000).
        dest_cid = (caller.exten, caller.caller_name) if caller is not None else cid
        # An Originate's legs are born without caller id; NewCallerid and NewConnectedLine
        # give them the action's CallerID before DialBegin (outbound-originate.trace).
        late_cid = caller is None and any(cid)
        born_cid = ("", "") if late_cid else dest_cid
        trunk = None
        if tech == "DAHDI":
            trunk = self._free_trunk()
            name = self.trunk_name(trunk, res.rsplit("/", 1)[-1])
        elif tech == "IAX2":
            name = f"IAX2/{res}-{next(self._iax_calls)}"
        elif tech == "Local":
            name = f"Local/{res}-{next(self._local_ids):08x};1"  # ;1 is the one handed back
        else:
            name = f"{tech}/{res}-{next(self._seq):08x}"
        dest = self.new_channel(
            name,
            state=snap.DOWN,
            context=(
                local_context
                if local
                else "default"
                if tech == "IAX2"
                else (caller.context if caller else "ccbox-agents")
            ),
            exten=(
                local_exten
                if local
                else "s"
                if tech == "IAX2"
                else (res if caller is None else caller.exten)
            ),
            caller=born_cid,
            connected=("", "") if late_cid else cid,
            linkedid=caller.linkedid if caller is not None else None,
            uniqueid=uniqueid,
            trunk=trunk,
        )
        dest.device_hint = hint
        if tech == "IAX2":
            # An IAX2 outgoing leg is born in default/s; Dial then gives it the caller's
            # exten and an empty context (device-channel-names, hangup-causes).
            dest.context, dest.exten = "", (caller.exten if caller is not None else res)
        two: SimChannel | None = None
        if local:
            two = self.new_channel(
                name[:-1] + "2",
                state=RING,
                context=local_context,
                exten=local_exten,
                caller=("", "") if late_cid else cid,  # ;2 is called by ;1's connected party
                connected=born_cid,
                linkedid=dest.linkedid,
                # An assigned ChannelId names ;1; ;2 gets it with ";2" (core_unreal.c).
                uniqueid=f"{uniqueid};2" if uniqueid else None,
            )
            dest.local_peer, two.local_peer = two, dest
            dest.local_optimize = "/n" not in target[len("Local/") :]
            two.device_hint = f"Local/{res}"
            self.emit(snap.local_bridge(dest, two, dest.local_optimize))
        if late_cid:
            for leg in (dest, two) if two is not None else (dest,):
                leg.caller_num, leg.caller_name = cid
                self.emit(
                    snap.channel_event(
                        "NewCallerid",
                        leg,
                        ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"),
                    )
                )
                leg.connected_num, leg.connected_name = cid
                self.emit(snap.channel_event("NewConnectedLine", leg))
        dest.application, dest.appdata = "AppDial", "(Outgoing Line)"
        # DialString: the dial target without its technology, options kept (1001@x/n).
        self.emit(snap.dial_begin(caller, dest, target.split("/", 1)[1]))
        timers: list[Any] = []

        def finish(status: str, answered: SimChannel | None) -> None:
            for t in timers:
                if t.active():
                    t.cancel()
            if caller is not None and on_caller_gone in caller.on_hangup:
                caller.on_hangup.remove(on_caller_gone)
            if caller is not None and status in ("BUSY", "NOANSWER"):
                caller.hangupcause = 17 if status == "BUSY" else 0
            if not result.called:
                result.callback((status, answered))

        def end_unanswered(status: str, cause: int | None, outcome: str = "") -> None:
            """``status``: DialEnd's; ``outcome``: what the Deferred reports, when not it."""
            if not dest.alive:
                return
            self.emit(snap.dial_end(caller, dest, status))
            self.request_hangup(dest, cause)
            self.hangup(dest, cause or 0)
            finish(outcome or status, None)

        def on_caller_gone(_ch: SimChannel, _cause: int) -> None:
            end_unanswered("CANCEL", 16)

        def cancel() -> None:
            end_unanswered("CANCEL", 16)

        if caller is not None:
            caller.on_hangup.append(on_caller_gone)

        def answer() -> None:
            if not dest.alive or result.called:
                return
            self.set_state(dest, UP)
            self.emit(snap.dial_end(caller, dest, "ANSWER"))
            finish("ANSWER", dest)

        if two is not None:

            def two_gone(ch2: SimChannel, cause: int) -> None:
                if not result.called:
                    status = {17: "BUSY", 34: "CONGESTION", 20: "CHANUNAVAIL"}.get(cause)
                    outcome = ""
                    if caller is None and ch2.state != snap.BUSY:
                        # An Originate's dial (main/dial.c) learns BUSY or CONGESTION only
                        # from ;2's indication (Busy(), Congestion()); ;2 merely hanging up
                        # (its own Dial was busy) leaves the cause 0: Reason 0 (pbx.c). Its
                        # DialEnd still names the status of ;1's hangup cause.
                        outcome = "FAILED"
                    end_unanswered(status or "NOANSWER", 0 if cause == 34 else cause, outcome)

            two.on_up.append(answer)
            two.on_hangup.append(two_gone)
            timers.append(self.clock.callLater(timeout_s, end_unanswered, "NOANSWER", None))
            self.pbx.start(two, local_context, local_exten)
            return result
        assert dev is not None
        self.set_state(dest, RINGING)
        if dev.busy:  # the phone answers busy while ringing: the leg stays in Ringing
            end_unanswered("BUSY", 17)
            return result
        if dev.congested:
            timers.append(self.clock.callLater(dev.ring_s, end_unanswered, "CONGESTION", 34))
            return result
        if dev.answers and getattr(dev, "speech", None) is not None:
            dest.party = dev
        timers.append(self.clock.callLater(timeout_s, end_unanswered, "NOANSWER", None))
        if dev.answers and dev.ring_s < timeout_s:
            timers.append(self.clock.callLater(dev.ring_s, answer))
        return result

    def hang_up_after_talk(self, ch: SimChannel, target: str) -> None:
        """The answered device hangs up by itself after its talk time (if it has one)."""
        talk = self.device(target, ch.device_hint).talk_time(self.rng)
        if talk is None:
            return
        timer = self.clock.callLater(talk, self._device_hangs_up, ch)
        ch.on_hangup.append(lambda _c, _cause: timer.cancel() if timer.active() else None)

    def _party_answered(self, far: SimChannel, near: SimChannel) -> None:
        """A called party answered ``near`` (a Local ;2 dialing out): it hangs up after its
        talk time; a person also when left in silence (the ;1 half not bridged to anyone
        within its patience), and otherwise its talk time after ;1 is bridged."""
        party = far.party
        one = near.local_peer
        timers: list[Any] = []
        if party.talk_s is not None:
            timers.append(self.clock.callLater(party.talk_s, self._device_hangs_up, far))
        if party.patience_s is not None:

            def silence() -> None:
                if far.alive and (one is None or one.bridge is None):
                    self._device_hangs_up(far)

            timers.append(self.clock.callLater(party.patience_s, silence))
        if party.bridged_talk_s is not None and one is not None:

            def bridged() -> None:
                if far.alive:
                    timers.append(
                        self.clock.callLater(party.bridged_talk_s, self._device_hangs_up, far)
                    )

            one.on_bridged.append(bridged)

        def gone(_c: SimChannel, _cause: int) -> None:
            for t in timers:
                if t.active():
                    t.cancel()

        far.on_hangup.append(gone)

    def _device_hangs_up(self, ch: SimChannel) -> None:
        self.request_hangup(ch, 16)
        self.hangup(ch, 16)

    # ---- AMI actions ----------------------------------------------------------------------

    def originate(
        self,
        action_id: str | None,
        fields: dict[str, str],
        variables: dict[str, str],
    ) -> None:
        """Async Originate (manager.py checked that the extension exists): ring the device;
        when answered the channel runs the dialplan at Context/Exten/Priority."""
        target = fields.get("Channel", "")
        context = fields.get("Context", "")
        exten = fields.get("Exten", "")
        priority = int(fields.get("Priority", "1"))
        try:
            timeout_s = int(fields.get("Timeout", "30000")) / 1000
        except ValueError:
            timeout_s = 30.0
        caller = _parse_callerid(fields.get("CallerID", ""))
        d = self.dial(None, _device_of(target), timeout_s, caller, fields.get("ChannelId"))

        def done(outcome: tuple[str, SimChannel | None]) -> None:
            status, ch = outcome
            if ch is None:
                # pbx.c pbx_dial_reason: 5 busy, 8 congestion, 3 no answer (the Originate's
                # own timeout), 0 anything else (a Local whose ;2 hung up: "FAILED").
                reason = {"BUSY": 5, "CONGESTION": 8, "NOANSWER": 3}.get(status, 0)
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
            self.enter(ch, context, exten, priority)

        d.addCallback(done)

    def enter(self, ch: SimChannel, context: str, exten: str, priority: int = 1) -> None:
        """The channel runs the dialplan at ``exten@context`` (pbx.py): AGI steps start a
        FastAGI session, Dial rings a device, ChanSpy spies; an extension that does not
        exist ends the channel's dialplan (it hangs up), as on Asterisk."""
        self.pbx.start(ch, context, exten, priority)

    def dial_from_dialplan(self, ch: SimChannel, data: str) -> None:
        """The dialplan's ``Dial(targets,timeout[,options])``: ring the devices (the first
        answer wins); bridged until one side hangs up; then the next priority runs."""
        parts = data.split(",")
        targets = [t for t in parts[0].split("&") if t]
        timeout_text = parts[1].strip() if len(parts) > 1 else ""
        if timeout_text and not timeout_text.isdigit():
            raise Unsupported(f"Dial({data}): timeout {timeout_text!r} is not whole seconds")
        options = parts[2].strip() if len(parts) > 2 else ""
        if options.strip("tT"):
            raise Unsupported(
                f"Dial({data}): options other than t and T in the dialplan's Dial are not modelled"
            )
        if not targets:
            raise Unsupported(f"Dial({data}) names no device")
        timeout = float(timeout_text) if timeout_text else 3600.0
        rings = [self.dial(ch, t, timeout) for t in targets]
        statuses: list[str] = []
        state = {"open": True}

        def one_done(outcome: tuple[str, SimChannel | None], index: int) -> None:
            status, peer = outcome
            statuses.append(status)
            if not state["open"]:
                return
            if peer is not None:
                state["open"] = False
                for i, ring in enumerate(rings):
                    if i != index:
                        ring.cancel()
                ch.variables["DIALSTATUS"] = "ANSWER"
                ch.variables["DIALEDPEERNAME"] = peer.name
                # T: the calling side may transfer (click-to-dial); t: the called side.
                ch.features |= {"t"} if "T" in options else set()
                peer.features |= {"t"} if "t" in options else set()
                self.set_state(ch, UP)  # Dial answers the calling channel (a Local ;2)
                self.bridge(ch, peer)
                ch.hangupcause = 16

                # Dial returns when the device hangs up: the dialplan goes on (Hangup()); not
                # while the dialing side is away in an attended transfer's consult bridge
                # (it stays there: transfer.py ends it when the consult's party goes).
                def peer_gone(gone: SimChannel, _cause: int, ch: SimChannel = ch) -> None:
                    bridge = ch.bridge
                    away = ch.transfer is not None and bridge is not None
                    if not away or (bridge is not None and gone in bridge.members):
                        self.pbx.next(ch)

                peer.on_hangup.append(peer_gone)
                if peer.party is not None:
                    self._party_answered(peer, ch)
                else:
                    self.hang_up_after_talk(peer, targets[index])
            elif len(statuses) == len(rings):
                state["open"] = False
                ch.variables["DIALSTATUS"] = _worst(statuses)
                if ch.alive:
                    self.pbx.next(ch)

        for i, ring in enumerate(rings):
            ring.addCallback(one_done, i)
            ring.addErrback(lambda _f: None)  # cancelled: another device answered

    def spy(self, spyer: SimChannel, target: str, options: str) -> None:
        """ChanSpy(target,options) from the dialplan ([ccbox-supervise]): ChanSpyStart on the
        target's channel, ChanSpyStop when either ends; a missing target ends the spy."""
        spyee = self.find(target)
        if spyee is None:
            self.pbx.next(spyer)
            return
        self.emit(snap.spy("ChanSpyStart", spyer, spyee))

        def stop(*_: Any) -> None:
            if spyer.alive and spyee is not None:
                self.emit(snap.spy("ChanSpyStop", spyer, spyee))
                if not spyee.alive:
                    self.pbx.next(spyer)  # E: ChanSpy returns when the spied channel ends

        self._pinned.add(stop)
        spyee.on_hangup.append(stop)
        spyer.on_hangup.append(stop)

    def redirect(self, ch: SimChannel, context: str, exten: str, priority: int = 1) -> None:
        """Blind transfer: the channel leaves its bridge or AGI and continues elsewhere."""
        agi = ch.agi
        if agi is not None:
            # The AGI's command answers first (Dial: 0 when bridged, -1 while ringing), then
            # HANGUP; the channel runs the new context only once the script closes the
            # socket (agi_caller.py calls enter then), as Asterisk does.
            agi.redirected(context, exten, priority)
        for other in self.leave_bridge(ch):
            self.request_hangup(other, 16)
            self.hangup(other, 16)
        if agi is None:
            self.enter(ch, context, exten, priority)

    def agi_ended(self, ch: SimChannel, status: str) -> None:
        """The AGI application returned with AGISTATUS ``status`` (SUCCESS or FAILURE; with
        HANGUP or after a Redirect agi_caller.py does not call this): the dialplan goes on
        after AGI() (the generated contexts hang up, or play the fallback when ccboxd never
        took the session)."""
        ch.variables["AGISTATUS"] = status
        if status == "HANGUP":
            self.pbx.end(ch)
        else:
            self.pbx.next(ch)

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


def _worst(statuses: list[str]) -> str:
    """Dial's DIALSTATUS over several devices: the most telling failure."""
    for status in ("CANCEL", "BUSY", "NOANSWER", "CONGESTION", "CHANUNAVAIL"):
        if status in statuses:
            return status
    return statuses[0] if statuses else "CHANUNAVAIL"


def _device_of(channel: str) -> str:
    """Originate's Channel -> the dial target the switch rings (a Local channel is rung as
    the device ``Local/<exten>@<context>``, named ``...-<8 hex>;1`` as Asterisk names it)."""
    if channel.startswith("Local/"):
        return channel
    return channel.split("-")[0] if re.match(r"^[A-Za-z]+/.*-[0-9a-f]+$", channel) else channel


_CALLERID = re.compile(r'^\s*"?(?P<name>[^"<]*)"?\s*<(?P<num>[^>]*)>\s*$')


def _parse_callerid(value: str) -> tuple[str, str]:
    m = _CALLERID.match(value)
    if m:
        return m.group("num"), m.group("name").strip()
    return (value, "") if value else ("", "")
