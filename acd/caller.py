"""A caller waiting in a queue, driven over its FastAGI session.

The caller hears hold music (a long STREAM FILE) until the ACD makes an offer; the Dial to
the agent's phone then *interrupts* the playback (``exec_now``), so the agent rings the
moment the ACD decides, not at the end of a poll. No answer or busy: the ACD puts the call
back with its place kept and the caller goes on holding. Overflow moves the call to another
queue, or ends the wait.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer

from acd.service import ACD, Offer, Overflow, QueuedCall
from drivers.asterisk.agi.codec import text, token
from drivers.asterisk.agi.session import AGIError, AGISessionProtocol, Interrupted

HOLD = "ccbox-hold"


class CallerGone(Exception):
    """The caller hung up."""


async def _first(*ds: defer.Deferred[Any]) -> tuple[int, Any]:
    """The index and result of the first of ``ds`` to fire (errors propagate)."""
    result = await defer.DeferredList(list(ds), fireOnOneCallback=True, fireOnOneErrback=True)
    value, index = result
    return index, value


async def _hold(session: AGISessionProtocol, waiter: defer.Deferred[Any]) -> Offer | Overflow:
    """Music until the waiter fires; CallerGone if the caller hangs up meanwhile."""
    while not waiter.called:
        if session.hung_up:
            raise CallerGone()
        play = session.command("STREAM FILE", token(HOLD), text(""), timeout=24 * 3600)
        play.addErrback(lambda f: f.trap(Interrupted) and None)  # cut short by the Dial
        try:
            index, value = await _first(play, waiter)
        except defer.FirstError as exc:
            exc.subFailure.trap(AGIError)
            raise CallerGone() from None
        if index == 1:
            return value
        if value is not None and value.value < 0:
            raise CallerGone()  # the caller hung up during the music
    result: Offer | Overflow = await waiter
    return result


async def wait_in_queue(acd: ACD, session: AGISessionProtocol, call: QueuedCall) -> str:
    """Until an agent answers (``answered``), the caller hangs up (``abandoned``), or the
    call overflows to nowhere (``overflow``)."""
    while True:
        try:
            event = await _hold(session, call.wait_offer())
        except CallerGone:
            acd.abandoned(call)
            return "abandoned"
        if isinstance(event, Overflow):
            if event.queue_id is not None:
                acd.move(call, event.queue_id)
                continue
            acd.gave_up(call)
            return "overflow"
        outcome = await _ring(acd, session, call, event)
        if outcome != "no_answer":
            return outcome


async def _ring(acd: ACD, session: AGISessionProtocol, call: QueuedCall, offer: Offer) -> str:
    devices = "&".join(a.device for a in offer.agents)
    try:
        result = await session.exec_now("Dial", f"{devices},{offer.ring_timeout_s}")
        status = await session.get_variable("DIALSTATUS")
        peer = await session.get_variable("DIALEDPEERNAME") if status == "ANSWER" else None
    except AGIError:  # the session ended under the Dial
        if call.answered_at is None:
            acd.abandoned(call)
            return "abandoned"
        acd.call_ended(call)
        return "answered"
    if status == "ANSWER":
        if peer:
            acd.answered(call, peer.rsplit("-", 1)[0])  # PJSIP/1001-0000000a -> PJSIP/1001
        acd.call_ended(call)
        return "answered"
    if result < 0 or session.hung_up:
        acd.abandoned(call)
        return "abandoned"
    acd.no_answer(call)
    return "no_answer"
