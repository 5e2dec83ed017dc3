"""A caller waiting in a queue, driven over its FastAGI session.

The caller hears hold music (a long STREAM FILE) until the ACD makes an offer; the Dial to
the agent's phone then *interrupts* the playback (``exec_now``), so the agent rings the
moment the ACD decides, not at the end of a poll. No answer or busy: the ACD puts the call
back with its place kept and the caller goes on holding. Overflow moves the call to another
queue, or ends the wait (voicemail, an extension, a goodbye).

While holding, the caller may press the queue's callback key (the place is kept and the ACD
calls back) or voicemail key; every ``announce_every_s`` the music pauses for the caller's
position and expected wait.
"""

from __future__ import annotations

import contextlib
import math
import re
from typing import Any

from twisted.internet import defer, task

from acd.service import ACD, Offer, Overflow, QueuedCall
from drivers.asterisk.agi.codec import text, token
from drivers.asterisk.agi.session import AGIError, AGISessionProtocol, Interrupted
from drivers.asterisk.device_names import device_of_channel

HOLD = "ccbox-hold"
CALLBACK_OK = "ccbox-callback-registered"
CALLBACK_REFUSED = "ccbox-callback-unavailable"
POSITION = "ccbox-queue-position"  # "You are caller number"
WAIT = "ccbox-queue-wait"  # "Your expected wait is about"
MINUTES = "ccbox-queue-minutes"  # "minutes"
SLICE_MS = 1000  # holding without the hold sound: how long each silent wait lasts
# A stopping ccboxd hands waiting callers to the dialplan at ``session.handoff_due``
# (appliance/shutdown.py): a ring must end a second before it, and one that could not ring
# this long is not started (the caller is handed off at once instead).
MIN_RING_S = 3
HANDED_OFF = "handed_off"


class CallerGone(Exception):
    """The caller hung up."""


async def _first(*ds: defer.Deferred[Any]) -> tuple[int, Any]:
    """The index and result of the first of ``ds`` to fire (errors propagate)."""
    result = await defer.DeferredList(
        list(ds), fireOnOneCallback=True, fireOnOneErrback=True, consumeErrors=True
    )
    value, index = result
    return index, value


def hold_sound(moh_class: str) -> str:
    """The queue's music: ``ccbox-hold``, or ``ccbox-hold-<class>`` for another class."""
    if moh_class in ("", "default") or not re.fullmatch(r"[a-z0-9_-]{1,32}", moh_class):
        return HOLD
    return f"{HOLD}-{moh_class}"


def _keys(acd: ACD, call: QueuedCall) -> str:
    q = acd.queues[call.queue_id]
    keys = q.callback_key if acd.switch is not None else ""  # callbacks need the AMI link
    return "".join(k for k in (keys, q.voicemail_key) if k and k in "0123456789*#")


async def _announce(
    acd: ACD, session: AGISessionProtocol, call: QueuedCall, keys: str, waiter: defer.Deferred[Any]
) -> str | None:
    """Position and expected wait, cutting the music; a pressed key is returned. An offer
    arriving meanwhile cuts the announcement short (the Dial interrupts it)."""
    q = acd.queues[call.queue_id]
    minutes = max(1, math.ceil(acd.expected_wait_s(call) / 60))
    steps: list[tuple[str, str]] = []
    if q.announce_position:
        steps += [("STREAM FILE", POSITION), ("SAY NUMBER", str(max(1, acd.position(call))))]
    steps += [("STREAM FILE", WAIT), ("SAY NUMBER", str(minutes)), ("STREAM FILE", MINUTES)]
    # NOOP stops the music: its reply carries no endpos, so it cannot be mistaken for the
    # late reply of the playback it cut (see AGISessionProtocol.interrupt).
    try:
        await session.interrupt("NOOP")
        for command, arg in steps:
            if waiter.called or session.hung_up:
                return None
            r = await session.command(command, token(arg), text(keys), timeout=600)
            played = await session.playback(r, arg if command == "STREAM FILE" else command)
            if played.failed and not played.missing:
                raise CallerGone()
            if played.digit:
                return played.digit
    except Interrupted:
        return None
    return None


class _Holding:
    """What the caller hears: the queue's hold sound, or, when the switch lacks it, the
    switch's own music on hold class while ccboxd waits in short silent slices."""

    def __init__(self, sound: str, moh_class: str) -> None:
        self.sound = sound
        self.moh_class = moh_class
        self.switch_music = False  # the hold sound is missing: SET MUSIC and silent waits
        self.music_on = False  # SET MUSIC ON is playing now

    def next(self, session: AGISessionProtocol, keys: str) -> defer.Deferred[Any]:
        if self.switch_music:
            if not self.music_on:  # first, or again after an announcement stopped it
                on = session.command("SET MUSIC", "ON", token(self.moh_class))
                on.addErrback(lambda _: None)  # a caller gone fails the wait after it too
                self.music_on = True
            # WAIT FOR DIGIT is not cut by the next command: an offer waits for the slice.
            return session.command("WAIT FOR DIGIT", token(SLICE_MS), timeout=SLICE_MS / 1000 + 30)
        return session.command("STREAM FILE", token(self.sound), text(keys), timeout=24 * 3600)

    def announced(self) -> None:
        """A prompt was opened: Asterisk stops the channel's music on hold for any sound it
        opens (main/file.c), and SET MUSIC's does not come back by itself."""
        self.music_on = False

    async def failed(self, session: AGISessionProtocol, result: Any) -> None:
        """The hold sound or a silent slice answered -1: CallerGone, or, when the hold sound
        is missing, the switch's music from now on."""
        if self.switch_music:
            raise CallerGone()  # WAIT FOR DIGIT's -1: the channel is gone
        played = await session.playback(result, self.sound)
        if not played.missing:
            raise CallerGone()
        self.switch_music = True


async def _hold(
    acd: ACD, session: AGISessionProtocol, call: QueuedCall, waiter: defer.Deferred[Any]
) -> Offer | Overflow | str:
    """Music until the waiter fires (an offer or overflow) or the caller presses a key (the
    key is returned); CallerGone if the caller hangs up meanwhile."""
    q = acd.queues[call.queue_id]
    moh = q.moh_class if re.fullmatch(r"[a-z0-9_-]{1,32}", q.moh_class) else "default"
    holding = _Holding(hold_sound(q.moh_class), moh)
    try:
        return await _hold_until(acd, session, call, waiter, holding)
    finally:
        if holding.music_on and not session.hung_up:
            with contextlib.suppress(AGIError):  # the caller went meanwhile
                await session.set_music(False, holding.moh_class)


async def _hold_until(
    acd: ACD,
    session: AGISessionProtocol,
    call: QueuedCall,
    waiter: defer.Deferred[Any],
    holding: _Holding,
) -> Offer | Overflow | str:
    keys = _keys(acd, call)
    every = acd.queues[call.queue_id].announce_every_s
    while not waiter.called:
        if session.hung_up:
            raise CallerGone()
        play = holding.next(session, keys)
        play.addErrback(lambda f: f.trap(Interrupted) and None)  # cut short
        racers = [play, waiter]
        if every > 0:
            racers.append(task.deferLater(acd.reactor, every, lambda: "announce"))
        try:
            index, value = await _first(*racers)
        except defer.FirstError as exc:
            exc.subFailure.trap(AGIError, CallerGone)
            raise CallerGone() from None
        finally:
            if len(racers) > 2 and not racers[2].called:
                racers[2].cancel()
        if index == 1:
            return value
        if index == 2:
            holding.announced()
            announced = defer.ensureDeferred(_announce(acd, session, call, keys, waiter))
            try:
                index, digit = await _first(announced, waiter)
            except defer.FirstError as exc:
                exc.subFailure.trap(AGIError, CallerGone)
                raise CallerGone() from None
            if index == 1:
                return digit
            if digit:
                return str(digit)
            continue
        if value is not None and value.value < 0:
            await holding.failed(session, value)  # the caller hung up, or no such sound
            continue
        if value is not None and value.value > 0 and chr(value.value) in keys:
            return chr(value.value)
    result: Offer | Overflow = await waiter
    return result


async def wait_in_queue(acd: ACD, session: AGISessionProtocol, call: QueuedCall) -> str:
    """Until an agent answers (``answered``), the caller hangs up (``abandoned``), asks for a
    callback (``callback``), goes to voicemail (``voicemail``), overflows to an extension
    (``extension``, the number in ``call.exit_target``) or to nowhere (``overflow``); a
    stopping ccboxd hands it to the dialplan (``handed_off``)."""
    while True:
        if session.handed_off or _ring_left_s(acd, session) == 0:
            return await _hand_off(acd, session, call)
        try:
            event = await _hold(acd, session, call, call.wait_offer())
        except CallerGone:
            if session.handed_off:
                return await _hand_off(acd, session, call)
            acd.abandoned(call)
            return "abandoned"
        if isinstance(event, str):
            outcome = await _key_pressed(acd, session, call, event)
            if outcome is not None:
                return outcome
            continue
        if isinstance(event, Overflow):
            # The hold music still plays: stop it, or what follows waits for its end.
            try:
                await session.interrupt("NOOP")
            except AGIError:
                acd.abandoned(call)
                return "abandoned"
            if event.kind == "queue" and event.queue_id is not None:
                acd.move(call, event.queue_id)
                continue
            acd.gave_up(call)
            if event.kind == "extension":
                call.exit_target = event.target
                return "extension"
            return "voicemail" if event.kind == "voicemail" else "overflow"
        outcome = await ring_offer(acd, session, call, event)
        if outcome != "no_answer":
            return outcome


async def _key_pressed(
    acd: ACD, session: AGISessionProtocol, call: QueuedCall, key: str
) -> str | None:
    q = acd.queues[call.queue_id]
    if key == q.voicemail_key:
        acd.key_exit(call, key)
        acd.gave_up(call)
        return "voicemail"
    if key == q.callback_key:
        if acd.request_callback(call):
            acd.key_exit(call, key)  # a callback keeps the caller's place in line
            await session.stream_file(CALLBACK_OK)
            return "callback"
        await session.stream_file(CALLBACK_REFUSED)
    return None  # back to the music


def _ring_left_s(acd: ACD, session: AGISessionProtocol) -> int | None:
    """How long a ring may last before the session's hand-off (None: no stop coming; 0:
    too little for a ring)."""
    if session.handoff_due is None:
        return None
    left = int(session.handoff_due - acd.reactor.seconds()) - 1
    return left if left >= MIN_RING_S else 0


async def _hand_off(acd: ACD, session: AGISessionProtocol, call: QueuedCall) -> str:
    """The caller leaves the queue for the dialplan's hand-off (a stopping ccboxd)."""
    acd.gave_up(call)
    if not session.handed_off:
        with contextlib.suppress(AGIError):
            await session.hand_off()
    return HANDED_OFF


async def ring_offer(acd: ACD, session: AGISessionProtocol, call: QueuedCall, offer: Offer) -> str:
    """Dial the offered agents' phones from the caller's session and report the outcome;
    an inbound caller's and a campaign's answered customer (acd/dialer/outbound_call.py)
    are rung by this one path."""
    devices = "&".join(a.device for a in offer.agents)
    ring_s = offer.ring_timeout_s
    left = _ring_left_s(acd, session)
    if left is not None:
        if left == 0:  # the hand-off comes before a ring could be answered
            return await _hand_off(acd, session, call)
        ring_s = min(ring_s, left)
    try:
        if call.before_ring is not None:
            await call.before_ring(session)  # the recording's capture, once (recorder)
        # t: the agent may transfer the caller (AMI Atxfer works only with it)
        result = await session.exec_now("Dial", f"{devices},{ring_s},t")
        status = await session.get_variable("DIALSTATUS")
        peer = await session.get_variable("DIALEDPEERNAME") if status == "ANSWER" else None
    except AGIError:  # the session ended under the Dial
        if call.answered_at is None:
            if session.handed_off:
                return await _hand_off(acd, session, call)
            acd.abandoned(call)
            return "abandoned"
        call.ended_by = "caller"  # the session ended under the Dial: the caller left
        acd.call_ended(call)
        return "answered"
    if status == "ANSWER":
        if peer:
            # PJSIP/1001-0000000a -> PJSIP/1001; Local/1001@ctx-0000006a;1 -> Local/1001@ctx
            acd.answered(call, device_of_channel(peer) or peer)
        # The caller's HANGUP line comes before the reply to a command sent after the Dial
        # (asterisk-traces: dial-agent-hangs-up): still up, the agent hung up first.
        call.ended_by = "caller" if session.hung_up else "agent"
        acd.call_ended(call)
        return "answered"
    if session.hung_up or (result < 0 and await session.caller_left()):
        acd.abandoned(call)
        return "abandoned"
    if ring_s < offer.ring_timeout_s:  # cut short by the stop: no miss for the agents
        return await _hand_off(acd, session, call)
    acd.no_answer(call)
    return "no_answer"
