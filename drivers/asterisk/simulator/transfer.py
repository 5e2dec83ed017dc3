"""AMI Atxfer on a leg that has Dial's ``t``: the attended transfer of atxfer-and-mixmonitor-mute.

What the trace shows, and what happens here in its order:

1. the feature code ``*2`` and the extension arrive on the transferer's channel as DTMF
   (DTMFEnd, ``Received``, 0 ms, no DTMFBegin); after ``*2`` the transferer is put on hold
   (``Hold``) and the other party hears music (MusicOnHoldStart ``Class: default``);
2. 3 s after the last digit (the digit timeout) the consult call: the transferer moves into a
   new bridge and ``Local/<exten>@<context>`` is dialed from it (the context is the Atxfer's
   Context, else the channel's TRANSFER_CONTEXT); its ``;2`` runs the dialplan there (in
   ccbox: Dial of the agent's phone). The pair is not optimized while it is in the consult;
3. when the transferer hangs up with the target answered: MusicOnHoldStop, BridgeMerge (the
   consult bridge into the original one), AttendedTransfer ``Result: Success``,
   ``DestType: Bridge``, the transferer's Hangup; then the Local pair optimizes itself away
   and the caller ends in the bridge with the target's phone. The caller's Dial, if one was
   waiting on the transferer, now waits on the target (it returns when the target hangs up).

During the consult the transferer's phone may press ``*3`` (AMI PlayDTMF ``Receive: true``,
Asterisk's default atxferthreeway): MusicOnHoldStop on the caller, BridgeMerge, the
transferer and the consult ``;1`` move into the caller's bridge, AttendedTransfer
``Result: Success`` ``DestType: Threeway`` (as Asterisk 22.10.1 did: tests/asterisk/
test_desk_control.py). When the transferer hangs up later the other two talk on. Asterisk then
optimizes the Local pair away (the target's phone moves into the caller's bridge); the
simulator keeps the pair, which carries the same audio.

When the consult call fails (busy, no answer, no such extension) the transferer goes back to
the caller (MusicOnHoldStop, Unhold), as Asterisk's default ``atxferdropcall = no`` does.
A transferer hanging up while the target still rings would make Asterisk transfer the
ringing call; that is not modelled: the simulator refuses it loudly (``Pbx.refusals``, an
error in the log) and hangs the transferer up as if no transfer had been asked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drivers.asterisk.simulator import snapshots as snap

if TYPE_CHECKING:
    from drivers.asterisk.simulator.switch import Bridge, SimChannel, Switch

FEATURE_CODE = "*2"  # features.conf's default atxfer code
THREEWAY_CODE = "*3"  # features.conf's default atxferthreeway
DIGIT_GAP_S = 0.155  # between the queued digits (the traces)
DIGIT_TIMEOUT_S = 3.0  # features.conf transferdigittimeout: the consult starts then
CONSULT_RING_S = 15.0  # features.conf atxfernoanswertimeout


class AttendedTransfer:
    """One Atxfer in progress, from the digits to the merge (or the return)."""

    def __init__(self, switch: Switch, transferer: SimChannel, exten: str, context: str) -> None:
        self.switch = switch
        self.transferer = transferer
        self.exten = exten
        self.context = context
        self.original: Bridge | None = transferer.bridge
        self.consult: Bridge | None = None
        self.target: SimChannel | None = None  # the Local ;1 once it answered
        self.ringing = False
        self.done = False
        self.keys = ""  # the transferer's last digits (PlayDTMF Receive)
        self.threeway = False

    @property
    def transferee(self) -> SimChannel | None:
        members = self.original.members if self.original is not None else []
        return next((m for m in members if m is not self.transferer), None)

    def start(self) -> None:
        clock = self.switch.clock
        digits = f"{FEATURE_CODE}{self.exten}"
        for i, digit in enumerate(digits):
            clock.callLater(i * DIGIT_GAP_S, self._digit, i, digit)
        clock.callLater((len(digits) - 1) * DIGIT_GAP_S + DIGIT_TIMEOUT_S, self._consult)

    def _digit(self, index: int, digit: str) -> None:
        ch = self.transferer
        if not ch.alive or self.done:
            return
        self.switch.emit(snap.dtmf("DTMFEnd", ch, digit, 0))
        if index == len(FEATURE_CODE) - 1:  # the feature code is complete: hold
            self.switch.emit(snap.channel_event("Hold", ch))
            other = self.transferee
            if other is not None:  # the held channel's class (CHANNEL(musicclass)), else default
                klass = other.variables.get("CHANNEL(musicclass)") or "default"
                self.switch.music_on_hold(other, True, klass)

    def _consult(self) -> None:
        ch = self.transferer
        if not ch.alive or self.done or ch.bridge is None:
            return
        self.consult = self.switch.new_bridge(ch)
        self.switch.move(ch, self.consult)
        self.ringing = True
        target = f"Local/{self.exten}@{self.context}"
        d = self.switch.dial(None, target, CONSULT_RING_S, (ch.caller_num, ch.caller_name))
        d.addCallback(self._answered)
        d.addErrback(lambda _f: None)

    def _answered(self, outcome: tuple[str, Any]) -> None:
        self.ringing = False
        _status, one = outcome
        if self.done or not self.transferer.alive:
            if one is not None:
                self.switch.request_hangup(one, 16)
                self.switch.hangup(one, 16)
            return
        if one is None or self.consult is None:
            self._back_to_the_caller()
            return
        self.target = one
        one.local_optimize = False  # not while in the consult
        self.switch.move(one, self.consult)

        def target_gone(_ch: Any, _cause: int) -> None:
            if not self.done:  # the target hung up during the consult
                self._back_to_the_caller()

        self.switch.pin(target_gone)
        one.on_hangup.append(target_gone)

    def _back_to_the_caller(self) -> None:
        """The consult failed or its target hung up: the transferer returns to the caller,
        who stops hearing hold music."""
        self.done = True
        ch, original = self.transferer, self.original
        if original is not None and original.members and ch.alive:
            self.switch.move(ch, original)
            self.switch.close_bridge(self.consult)
            other = self.transferee
            if other is not None:
                self.switch.music_on_hold(other, False)
            self.switch.emit(snap.channel_event("Unhold", ch))
        elif ch.alive and self.target is not None:
            # The caller hung up while held, then the consult's party left too: Asterisk's
            # transfer had failed and the consult bridge dissolves, hanging the transferer
            # up (tests/asterisk/test_desk_control.py, the caller hanging up on hold).
            ch.transfer = None
            self.switch.request_hangup(ch, 16)
            self.switch.hangup(ch, 16)
        ch.transfer = None

    def key(self, digit: str) -> None:
        """A digit the transferer's phone pressed during the transfer: ``*3`` joins all
        three once the consult call is up."""
        self.keys = (self.keys + digit)[-len(THREEWAY_CODE) :]
        if self.keys == THREEWAY_CODE and not self.done and self.target is not None:
            self._threeway()

    def _threeway(self) -> None:
        ch, target, consult, original = self.transferer, self.target, self.consult, self.original
        other = self.transferee
        if target is None or consult is None or original is None or other is None:
            return
        self.done = self.threeway = True
        self._merge(
            target, consult, original, other, [("DestType", "Threeway")], with_transferer=True
        )
        self.switch.emit(snap.channel_event("Unhold", ch))
        original.owner = other  # the transferer may leave: the two others talk on

    def _merge(
        self,
        target: SimChannel,
        consult: Bridge,
        original: Bridge,
        other: SimChannel,
        dest: list[tuple[str, str]],
        with_transferer: bool,
    ) -> None:
        """The consult bridge merges into the original one (a three-way call with the
        transferer, a completed transfer without): BridgeMerge, AttendedTransfer, the consult
        bridge closed, as Asterisk 22 reports both."""
        ch, switch = self.transferer, self.switch
        switch.music_on_hold(other, False)
        switch.emit(
            snap.event(
                "BridgeMerge",
                "call",
                snap.bridge_headers(original.id, len(original.members), "To"),
                snap.bridge_headers(consult.id, len(consult.members), "From"),
            )
        )
        switch.move(target, original)
        if with_transferer:
            switch.move(ch, original)
        switch.emit(
            snap.event(
                "AttendedTransfer",
                "call",
                [("Result", "Success")],
                ch.headers("OrigTransferer"),
                snap.bridge_headers(original.id, len(original.members), "Orig"),
                ch.headers("SecondTransferer"),
                snap.bridge_headers(consult.id, len(consult.members), "Second"),
                other.headers("Transferee"),
                target.headers("TransferTarget"),
                [("IsExternal", "No"), *dest],
            )
        )
        switch.close_bridge(consult)

    def transferer_gone(self) -> bool:
        """The transferer hangs up (called by Switch.hangup before it leaves its bridge):
        True when that completed the transfer."""
        ch = self.transferer
        ch.transfer = None
        if self.threeway:  # the caller's Dial now waits on the party consulted
            if self.target is not None and self.target.alive:
                self.switch.swap_watchers(ch, self.target)
            return True
        if self.done:
            return False
        self.done = True
        if self.ringing:
            self.switch.pbx.refusals.append(
                "the simulator does not model a transferer hanging up while the attended "
                "transfer's target still rings"
            )
            return False
        target, consult, original = self.target, self.consult, self.original
        other = self.transferee
        if target is None or consult is None or original is None or other is None:
            return False
        switch = self.switch
        consult.members.remove(ch)
        ch.bridge = None
        switch.emit(snap.bridge_event("BridgeLeave", consult.id, len(consult.members), ch))
        dest = [("DestType", "Bridge"), ("DestBridgeUniqueid", original.id)]
        self._merge(target, consult, original, other, dest, with_transferer=False)
        original.owner = other
        # Whoever waited on the transferer (the caller's Dial) now waits on the target.
        switch.swap_watchers(ch, target)
        target.local_optimize = True
        switch.optimize_soon(target, caller_moves=True)
        return True
