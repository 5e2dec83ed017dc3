"""Handing a caller to the ACD and what happens when the queue gives it back.

The caller waits in the queue (acd/caller.py) until an agent answers or the queue lets go:
overflow into voicemail (the queue's mailbox), to an extension, or a goodbye. A flow can
take over instead: a queue node with its ``unanswered`` output connected continues there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.caller import wait_in_queue
from acd.service import EXTENSION
from ivr.call_record import now, span_ms

if TYPE_CHECKING:
    from acd.service import QueuedCall
    from appliance.db.acd_store import ACDQueue
    from drivers.asterisk.agi.session import AGISessionProtocol
    from ivr.call_record import CallRecord
    from ivr.services import IVRServices

GOODBYE = "ccbox-goodbye"
# Queue outcomes after which the caller is still with us (not answered, not transferred).
UNANSWERED = ("voicemail", "extension", "overflow")


async def wait(
    services: IVRServices,
    session: AGISessionProtocol,
    call: CallRecord,
    qcall: QueuedCall,
    q: ACDQueue,
) -> str:
    """The caller waits; the outcome (answered, voicemail, extension, overflow, callback,
    abandoned, ...) is written down and returned."""
    acd = services.acd
    assert acd is not None
    call.queue_id = q.id
    # For the live views (webui/live_feed.py): set in the same turn as the join, before
    # any flush renders the call.
    qcall.record_id = call.call_id
    call.watch_answer(qcall)  # the agent's answer goes on the row when it happens
    if session.env is not None:
        qcall.caller_name = session.env.caller_name
    await call.event("queued", {"queue": q.name, "priority": qcall.priority})
    joined = now()
    call._track(services.db.calls.queue_visit(call.call_id, joined=(joined, q.id)))
    recorder = services.recorder
    if recorder is not None:
        if call.recording is None:
            # recorded (by policy, only while bridged with an agent: MixMonitor's b option)
            # or not; either way the recorder knows the live call, for pause and on-demand
            # start
            call.recording = await recorder.call_queued(
                session, call.call_id, q, call.called_number
            )
        # nothing on the switch while the caller waits: the capture starts at the ring
        live = call.recording
        qcall.before_ring = lambda dialing: recorder.start_capture(dialing, live)
    outcome = await wait_in_queue(acd, session, qcall)
    call.queue_id = qcall.queue_id
    call.agent_id = qcall.agent.id if qcall.agent is not None else None
    await call.event(outcome, {"agent": call.agent_id, "queue": call.queue_id})
    # the wait: to the agent's answer, or to leaving the queue (reports, calls.wait_ms)
    until = call.agent_answered_at if outcome == "answered" and call.agent_answered_at else now()
    wait_ms = span_ms(until - joined)
    visit = (outcome, wait_ms, qcall.queue_id)
    call._track(services.db.calls.queue_visit(call.call_id, left=visit))
    call.disposition = {"answered": "completed"}.get(outcome, outcome)
    if qcall.transferred:
        call.disposition = "transferred"
    return outcome


async def queue_exit(
    services: IVRServices,
    session: AGISessionProtocol,
    call: CallRecord,
    qcall: QueuedCall,
    outcome: str,
) -> None:
    """The queue's own ending for a caller it let go (voicemail, extension, goodbye); a
    caller handed to the dialplan by a stopping ccboxd is the dialplan's now."""
    if qcall.transferred or session.hung_up or session.handed_off:
        return
    acd = services.acd
    assert acd is not None
    q = acd.queues[qcall.queue_id]
    if outcome == "voicemail":
        boxes = await services.db.voicemail.mailboxes()
        box = next((b.number for b in boxes if b.owner_kind == "queue" and b.owner == q.name), None)
        await services.voicemail.leave(session, call, box or f"queue-{q.id}")
    elif outcome == "extension" and EXTENSION.match(qcall.exit_target):
        await session.exec_("Dial", f"Local/{qcall.exit_target}@ccbox-extensions,60")
    elif outcome in ("overflow", "callback"):
        await session.stream_file(GOODBYE)
