"""The FastAGI entry points of the IVR: a call from a trunk, and a caller an agent transferred.

``inbound``: the calls row is opened, the caller answered, a black-listed caller turned
away, then the flow bound to the dialed number runs (the published version at this moment;
ivr/default_flow.py when none is bound). ``transferred``: a caller an agent sent (blind) to a
queue or another agent continues the same calls row there. Either way the row is closed with
the outcome however the session ends.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from acd.service import ACDError
from drivers.asterisk.agi.session import AGIConnectionLost, AGIError, DeadChannel
from ivr import queue_step
from ivr.call_record import CallRecord, now
from ivr.caller_customer import caller_priority, find_caller
from ivr.default_flow import default_flow
from ivr.interpreter import CallerGone, Interpreter

if TYPE_CHECKING:
    from drivers.asterisk.agi.session import AGISessionProtocol
    from ivr.services import IVRServices

BLOCKED = "ccbox-blocked"
GOODBYE = "ccbox-goodbye"
# A stopping ccboxd: the caller went to the dialplan's hand-off; the call was left to the
# switch (its row open for the next start).
HANDED_OFF = "handed_off"
LEFT_RUNNING = "left_running"


async def inbound(session: AGISessionProtocol, services: IVRServices) -> None:
    env = session.env
    assert env is not None
    call = await CallRecord.open(services.db, env, services.trunk_group, services.trunk_channel)
    await _to_the_end(session, services, call, _flow(session, services, call))


async def _flow(session: AGISessionProtocol, services: IVRServices, call: CallRecord) -> None:
    env = session.env
    assert env is not None
    db, acd = services.db, services.acd
    await session.answer()
    call.answered_at = now()
    if acd is not None and acd.is_blacklisted(env.caller_number):
        call.disposition = "blacklisted"
        await call.event("blacklisted", {})
        await session.stream_file(BLOCKED)
        await session.hangup()
        return
    dialed = env.args[0] if env.args else env.dialed
    flow_id = await db.ivr.flow_for_did(dialed)
    version = await db.ivr.published(flow_id) if flow_id is not None else None
    if flow_id is not None and version is not None:  # the flow scope of the reports
        call._track(db.calls.set_flow(call.call_id, flow_id))
    if version is None:
        queues = list(acd.queues.values()) if acd is not None else []
        version = default_flow(queues, env.args[1] if len(env.args) > 1 else None)
    customer = await find_caller(services, call, env.caller_number)
    variables = {
        "caller_number": env.caller_number[:80],
        "caller_name": env.caller_name[:80],
        "dialed": dialed[:32],
        "customer_class": customer.customer_class if customer is not None else "",
        "customer_name": customer.name[:80] if customer is not None else "",
        "last_input": "",
    }
    customer_id = customer.id if customer is not None else None
    await Interpreter(services).run(session, call, version, variables, customer_id)
    if call.disposition == "completed" and call.agent_id is None:
        call.disposition = "self_service"  # served by the IVR alone


async def transferred(session: AGISessionProtocol, services: IVRServices, kind: str) -> None:
    """A caller an agent transferred (blind) to a queue or to another agent."""
    env = session.env
    assert env is not None
    call_id = await services.db.calls.find(env.uniqueid)
    if call_id is None:  # not a call we know (a stale redirect): nothing to continue
        await session.hangup()
        return
    row = await services.db.calls.get(call_id) or {}
    called = str(row.get("called_number") or "")
    call = CallRecord(services.db, call_id, answered_at=now(), called_number=called)
    await _to_the_end(session, services, call, _requeue(session, services, call, kind))


async def _requeue(
    session: AGISessionProtocol, services: IVRServices, call: CallRecord, kind: str
) -> None:
    env = session.env
    assert env is not None
    acd = services.acd
    assert acd is not None
    target = env.args[0] if env.args else ""
    await call.event("transfer_in", {"kind": kind, "target": target})
    customer = await find_caller(services, call, env.caller_number)
    cls = customer.customer_class if customer is not None else ""
    priority = caller_priority(services, env.caller_number, {"customer_class": cls})
    previous = acd.last_queue_of(env.uniqueid)
    if kind == "agent":
        fallback = previous if previous is not None else min(acd.queues)
        qcall = acd.join_agent(
            target, env.caller_number, env.uniqueid, env.channel, fallback, priority
        )
    else:
        try:
            queue_id = acd.queue(int(target)).id if target.isdigit() else -1
        except ACDError:
            queue_id = -1
        if queue_id < 0:
            call.disposition = "transfer_failed"
            await session.stream_file(GOODBYE)
            await session.hangup()
            return
        qcall = acd.join(queue_id, env.caller_number, env.uniqueid, priority, env.channel)
    q = acd.queues[qcall.queue_id]
    outcome = await queue_step.wait(services, session, call, qcall, q)
    await queue_step.queue_exit(services, session, call, qcall, outcome)


async def _to_the_end(
    session: AGISessionProtocol,
    services: IVRServices,
    call: CallRecord,
    body: Coroutine[Any, Any, None],
) -> None:
    """Run the call's ``body``; hang up what is still up; a caller who went is written
    down; the calls row is closed however it ends, and its recording post-processed.

    A stopping ccboxd (appliance/shutdown.py) ends the session under the body: a caller
    it handed to the dialplan's hand-off is written ``handed_off``, never a hangup; a call
    it left running in the switch (bridged to an agent) keeps its row open for the next
    start to adopt."""
    try:
        await body
        if not (session.hung_up or session.handed_off):
            await session.hangup()
    except (AGIError, CallerGone) as exc:
        if not (session.handed_off or session.left_running) and not isinstance(
            exc, (DeadChannel, AGIConnectionLost, CallerGone)
        ):
            raise
        if not session.handed_off:
            call.caller_gone()
    finally:
        if session.handed_off and call.agent_answered_at is None:
            call.disposition = HANDED_OFF
        if session.left_running:
            await _left_running(services, call)
        else:
            await call.close()
        if call.recording is not None and services.recorder is not None:
            # the channel (and its capture) goes on: transferred, or left to the switch
            if call.disposition == "transferred" or session.left_running:
                services.recorder.handed_over(call.recording)
            else:
                services.recorder.finished(call.recording)


async def _left_running(services: IVRServices, call: CallRecord) -> None:
    """The row stays open (appliance/call_rows.py adopts it at the next start) with what
    this process knew: the answer already written, the queue, and the moment it let go.
    Awaited here, as the last of the call's writes, before the database stops."""
    await services.db.calls.add_event(
        call.call_id, LEFT_RUNNING, now(), {"queue": call.queue_id, "agent": call.agent_id}
    )
