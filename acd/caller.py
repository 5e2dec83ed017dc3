"""A caller waiting in a queue, driven over its FastAGI session.

The caller hears the switch's music on hold in the queue's class (``SET MUSIC ON``) while
ccboxd waits for an offer, and ccboxd sends nothing meanwhile: with keys to listen for (the
queue's callback or voicemail key) one ``WAIT FOR DIGIT -1`` is outstanding, without keys
no command at all (Asterisk's AGI loop reads the channel, which runs the music generator).
So a waiting caller costs the switch what app_queue's does: no playback loop, no command,
no AMI event until something happens. The offer's Dial cuts the wait at once
(``exec_now``), and its ``m(class)`` keeps the music playing while the agent's phone rings.
No answer or busy: the ACD puts the call back with its place kept and the caller goes on
holding. Overflow moves the call to another queue, or ends the wait (voicemail, an
extension, a goodbye).

Every ``announce_every_s`` the music pauses for the caller's position and expected wait.
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

CALLBACK_OK = "ccbox-callback-registered"
CALLBACK_REFUSED = "ccbox-callback-unavailable"
POSITION = "ccbox-queue-position"  # "You are caller number"
WAIT = "ccbox-queue-wait"  # "Your expected wait is about"
MINUTES = "ccbox-queue-minutes"  # "minutes"
FOREVER_S = 24 * 3600.0  # how long ccboxd lets a WAIT FOR DIGIT -1 run
# A stopping ccboxd hands waiting callers to the dialplan at ``session.handoff_due``
# (appliance/shutdown.py): a ring must end a second before it, and one that could not ring
# this long is not started (the caller is handed off at once instead).
MIN_RING_S = 3
HANDED_OFF = "handed_off"
_MOH_CLASS = re.compile(r"[A-Za-z0-9_-]{1,32}")


class CallerGone(Exception):
    """The caller hung up."""


async def _first(*ds: defer.Deferred[Any]) -> tuple[int, Any]:
    """The index and result of the first of ``ds`` to fire (errors propagate)."""
    result = await defer.DeferredList(
        list(ds), fireOnOneCallback=True, fireOnOneErrback=True, consumeErrors=True
    )
    value, index = result
    return index, value


def moh_class(name: str) -> str:
    """The queue's music on hold class as Asterisk may be given it (``default`` for a name
    that is not a plain class name: it goes on an AGI command line)."""
    return name if _MOH_CLASS.fullmatch(name) else "default"


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
    """The music while ccboxd waits: ``SET MUSIC ON <class>`` once (again after an
    announcement, whose prompts stop it: main/file.c stops the channel's generator for any
    sound it opens), then the wait itself: ``WAIT FOR DIGIT -1`` when there are keys to hear,
    or nothing at all but the session's hangup."""

    def __init__(self, music_class: str) -> None:
        self.music_class = music_class
        self.music_on = False  # SET MUSIC ON was sent and nothing has stopped it since

    def next(self, session: AGISessionProtocol, keys: str) -> defer.Deferred[Any]:
        if not self.music_on:
            on = session.command("SET MUSIC", "ON", token(self.music_class))
            on.addErrback(lambda _: None)  # a caller gone fails the wait after it too
            self.music_on = True
        if keys:
            # Asterisk plays the music while it waits; the next command cuts the wait
            # (res_agi.c: ast_waitfordigit_full watches the socket), answering 1.
            return session.command("WAIT FOR DIGIT", "-1", timeout=FOREVER_S)
        return session.when_hung_up()

    def announced(self) -> None:
        """A prompt was opened: the music stopped and does not come back by itself."""
        self.music_on = False


async def _hold(
    acd: ACD, session: AGISessionProtocol, call: QueuedCall, waiter: defer.Deferred[Any]
) -> Offer | Overflow | str:
    """Music until the waiter fires (an offer or overflow) or the caller presses a key (the
    key is returned); CallerGone if the caller hangs up meanwhile. An offer leaves the music
    playing (its Dial keeps it until the agent answers); anything else stops it."""
    holding = _Holding(moh_class(acd.queues[call.queue_id].moh_class))
    result: Offer | Overflow | str | None = None
    try:
        result = await _hold_until(acd, session, call, waiter, holding)
        return result
    except CallerGone:
        holding.music_on = False  # with the channel (the wait's -1 precedes the HANGUP line)
        raise
    finally:
        if holding.music_on and not isinstance(result, Offer) and not session.hung_up:
            with contextlib.suppress(AGIError):  # the caller went meanwhile
                # interrupt: a WAIT FOR DIGIT -1 may still be waiting
                await session.interrupt("SET MUSIC", "OFF", token(holding.music_class))


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
        play.addErrback(lambda f: f.trap(Interrupted, defer.CancelledError) and None)
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
            if not keys and not play.called:
                play.cancel()  # the hangup watch: not a command, nothing on the wire
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
        if session.hung_up:  # the hangup watch fired, or the wait ended with the channel
            raise CallerGone()
        if value is None:  # cut short (a hand-off): the loop looks again
            continue
        if value.value < 0:  # WAIT FOR DIGIT answers -1 only when the channel is gone
            raise CallerGone()
        if value.value > 0 and chr(value.value) in keys:
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
        music = acd.queues[call.queue_id].moh_class
        outcome = await ring_offer(acd, session, call, event, music)
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


async def ring_offer(
    acd: ACD,
    session: AGISessionProtocol,
    call: QueuedCall,
    offer: Offer,
    music_class: str | None = None,
) -> str:
    """Dial the offered agents' phones from the caller's session and report the outcome;
    an inbound caller's and a campaign's answered customer (acd/dialer/outbound_call.py)
    are rung by this one path. ``music_class``: the caller hears that music on hold while
    the phones ring (Dial's ``m``), as it did while waiting; None: Dial's own indications."""
    devices = "&".join(a.device for a in offer.agents)
    ring_s = offer.ring_timeout_s
    left = _ring_left_s(acd, session)
    if left is not None:
        if left == 0:  # the hand-off comes before a ring could be answered
            return await _hand_off(acd, session, call)
        ring_s = min(ring_s, left)
    # t: the agent may transfer the caller (AMI Atxfer works only with it)
    options = "t" if music_class is None else f"tm({moh_class(music_class)})"
    try:
        if call.before_ring is not None:
            if session.interruptible:  # the hold's WAIT FOR DIGIT: the hook's commands
                await session.interrupt("NOOP")  # would queue behind it
            await call.before_ring(session)  # the recording's capture, once (recorder)
        result = await session.exec_now("Dial", f"{devices},{ring_s},{options}")
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
