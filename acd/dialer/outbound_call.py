"""The FastAGI script ``dialer``: a campaign's called party answered.

The dialplan's ``[ccbox-dialer]`` runs it on the Originate's ``;1`` half with the attempt's
id, after ``AMD()`` when the campaign detects machines (acd/dialer/service.py places the
call). Here:

- a machine (AMDSTATUS ``MACHINE``): the outcome is ``machine``, the call hung up;
- a person (``HUMAN``, ``NOTSURE``, or no AMD): the call joins the ACD on the campaign's
  queue ahead of the inbound callers (``PRIORITY``; a callback an agent set for themselves
  is offered to that agent first, acd.join_agent) and waits for an offer. The rule's two
  seconds (``offer_wait_s``) run from the end of the person's greeting: AMD()'s HUMAN comes
  800 ms of silence after it (its cause says how long), and those count. None in time: the
  campaign's safe-harbor message (company name and callback number) is started
  ``PROMPT_LEAD_S`` before the two seconds are up, and the call ends ``abandoned``. An
  offer: the agent's phone rings as for an inbound caller (acd/caller.py's Dial, with ``t``
  for transfers), the desk pops the lead (``LeadOffered`` on the bus, and the
  calls row on the queued call as for any call); an agent who does not answer gives the
  call back, and the wait starts again.

The call is a calls row (``outbound``, the customer's number as caller and called number,
as a callback's), recorded by the campaign's policy alone (``record`` ``all``: recorded
whatever the queue's own policy; ``none``: not, a standby capture that "record now" can
unmute as for any call the policy skips; recorder/policy.py). As for an inbound caller,
the capture starts just before the agent's phone is dialed (``QueuedCall.before_ring``),
not while the customer waits.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger

from acd import outbound_rows
from acd.caller import ring_offer
from acd.dialer.events import LeadOffered
from acd.service import Offer
from drivers.asterisk.agi.session import AGIError

if TYPE_CHECKING:
    from acd.dialer.service import Dialer, Line
    from acd.service import QueuedCall
    from appliance.db.connector import DBConnector
    from drivers.asterisk.agi.session import AGISessionProtocol
    from recorder.service import LiveCall, RecorderService

log = Logger(namespace="ccbox.dialer.call")

PRIORITY = 1000  # ahead of any inbound caller (red-list priorities are far below)
PROMPT_LEAD_S = 0.2  # the safe-harbor prompt is asked for this long before the 2 s are up
AFTER_GREETING_S = 0.8  # amd.conf's afterGreetingSilence: HUMAN comes this long after it
FALLBACK_PROMPT = "ccbox-goodbye"  # a campaign without its safe-harbor prompt (logged)


async def run(
    session: AGISessionProtocol,
    dialer: Dialer,
    db: DBConnector | None = None,
    recorder: RecorderService | None = None,
    sound_for_name: Any = None,
) -> str:
    """Returns the attempt's outcome (``answered``, ``machine``, ``abandoned``) or
    ``unknown`` for a session that is no campaign call."""
    env = session.env
    assert env is not None
    arg = env.args[0] if env.args else ""
    line = dialer.line_for(int(arg), env.uniqueid) if arg.isdigit() and len(arg) < 19 else None
    if line is None:
        log.warn("dialer session {arg!r} on {ch}: no such call placed", arg=arg, ch=env.channel)
        await session.hangup()
        return "unknown"
    try:
        return await _answered(session, dialer, line, db, recorder, sound_for_name)
    except AGIError as exc:
        log.info("attempt {a}: session ended: {err}", a=line.attempt_id, err=exc)
        if line.state == "talking":
            dialer.ended(line)
            return "answered"
        if line.state != "done" and line.person_at:
            dialer.abandoned(line)
        elif line.state != "done":
            dialer.machine(line, "HANGUP")
        return "abandoned"


async def _answered(
    session: AGISessionProtocol,
    dialer: Dialer,
    line: Line,
    db: DBConnector | None,
    recorder: RecorderService | None,
    sound_for_name: Any,
) -> str:
    campaign = line.campaign
    spoken_s = 0.0  # how long ago the person's greeting ended
    if campaign.amd:
        status = await session.get_variable("AMDSTATUS") or ""
        cause = await session.get_variable("AMDCAUSE") or ""
        if status == "MACHINE":
            dialer.machine(line, cause)
            await session.hangup()
            return "machine"
        if status == "HANGUP" or session.hung_up:
            dialer.machine(line, "HANGUP")  # gone during the analysis: nobody was reached
            return "machine"
        spoken_s = since_greeting(cause)
    dialer.person(line)
    acd = dialer.acd
    # The rule's 2 s run from the end of the greeting; the prompt starts a little before.
    deadline = acd.reactor.seconds() - spoken_s + dialer.limits.offer_wait_s - PROMPT_LEAD_S
    env = session.env
    assert env is not None
    for_agent = line.for_agent if line.for_agent is not None else line.lead.agent_id
    agent = acd.agents.get(for_agent) if for_agent is not None else None
    if agent is not None:  # previewed by, or a callback set for, this agent: theirs first
        call = acd.join_agent(
            agent.number, line.lead.number, env.uniqueid, env.channel, campaign.queue_id, PRIORITY
        )
    else:
        call = acd.join(campaign.queue_id, line.lead.number, env.uniqueid, PRIORITY, env.channel)
    call.caller_name = line.lead.name

    def answered(agent: Any, _at: float) -> None:
        dialer.connected(line, agent.id)

    call.on_answered = answered
    # Written while the call already waits for an agent: the database's pace is not the
    # customer's wait (the desk pops the row once it is there).
    row = await _open_row(db, session, line) if db is not None else None
    call.record_id = row
    live: LiveCall | None = None
    if row is not None and recorder is not None:
        try:
            live = await recorder.call_queued(
                session, row, acd.queues[call.queue_id], "", campaign_record=campaign.record
            )
        except Exception:
            log.failure("attempt {a}: recording not started", a=line.attempt_id)
        else:
            # nothing on the switch while the customer waits: the capture starts at the ring
            held = live
            call.before_ring = lambda dialing: recorder.start_capture(dialing, held)
    outcome = "abandoned"
    try:
        outcome = await _wait_for_agent(session, dialer, line, call, sound_for_name, deadline)
    finally:
        if outcome == "answered":
            q = acd.queues.get(call.queue_id)
            dialer.ended(line, float(q.wrapup_s) if q is not None else 0.0)
        elif line.state != "done":
            dialer.abandoned(line)
        if row is not None and db is not None:
            await _close_row(db, row, outcome, call)
        if live is not None and recorder is not None:
            recorder.finished(live)
    if not session.hung_up:
        await session.hangup()
    return outcome


async def _wait_for_agent(
    session: AGISessionProtocol,
    dialer: Dialer,
    line: Line,
    call: QueuedCall,
    sound_for_name: Any,
    deadline: float,
) -> str:
    """Offers until an agent answers; none by ``deadline`` (after an agent's ring that was
    not answered: ``offer_wait_s`` again), the safe-harbor message."""
    acd = dialer.acd
    while True:
        waiter: defer.Deferred[Any] = call.wait_offer()
        wait_s = max(0.0, deadline - acd.reactor.seconds())
        timer: defer.Deferred[Any] = task.deferLater(acd.reactor, wait_s, lambda: None)
        value, index = await defer.DeferredList(
            [waiter, timer], fireOnOneCallback=True, consumeErrors=True
        )
        offer = value if index == 0 else None
        if not timer.called:
            timer.cancel()
        if not isinstance(offer, Offer):
            acd.gave_up(call)  # out of the queue; an offer made meanwhile is withdrawn
            if session.hung_up:
                return "abandoned"
            await _safe_harbor(session, line, sound_for_name)
            return "abandoned"
        for agent in offer.agents:
            dialer.bus.publish(_offered(dialer, line, agent.id, call.record_id))
        outcome = await ring_offer(acd, session, call, offer)
        if outcome != "no_answer":
            return outcome
        deadline = acd.reactor.seconds() + dialer.limits.offer_wait_s - PROMPT_LEAD_S


async def _safe_harbor(session: AGISessionProtocol, line: Line, sound_for_name: Any) -> None:
    """The recorded message: who called and the number to call back; then the call ends."""
    name = line.campaign.safe_harbor_prompt
    if not name:
        log.warn("campaign {c} has no safe-harbor prompt", c=line.campaign.name)
        sound = FALLBACK_PROMPT
    else:
        sound = sound_for_name(name) if sound_for_name is not None else name
    await session.stream_file(sound)


def since_greeting(amd_cause: str) -> float:
    """Seconds since the person's greeting ended, from AMD()'s cause: ``HUMAN-<silence ms>-
    <afterGreetingSilence>`` says it; ``TOOLONG``/``NOAUDIODATA`` (NOTSURE) do not, so the
    default after-greeting silence is assumed."""
    parts = amd_cause.split("-")
    if parts[0] == "HUMAN" and len(parts) == 3 and parts[1].isdigit():
        return int(parts[1]) / 1000
    return AFTER_GREETING_S


def _offered(dialer: Dialer, line: Line, agent_id: int, call_id: int | None) -> LeadOffered:
    lead, campaign = line.lead, line.campaign
    return LeadOffered(
        agent_id=agent_id,
        campaign_id=campaign.id,
        campaign=campaign.name,
        lead_id=lead.id,
        attempt_id=line.attempt_id,
        number=lead.number,
        name=lead.name,
        script=campaign.script,
        call_id=call_id,
        at=dialer.reactor.seconds(),
        fields=dict(lead.fields),
        dispositions=tuple(campaign.dispositions),
    )


async def _open_row(db: DBConnector, session: AGISessionProtocol, line: Line) -> int | None:
    lead = line.lead
    return await outbound_rows.open_row(
        db,
        session,
        lead.number,
        lead.name,
        "campaign",
        {"campaign": line.campaign.id, "lead": lead.id, "attempt": line.attempt_id},
        f"attempt {line.attempt_id}",
        trunk_group=line.trunk,
    )


async def _close_row(db: DBConnector, row: int, outcome: str, call: QueuedCall) -> None:
    agent = call.agent
    answered = dt.datetime.fromtimestamp(call.answered_at, dt.UTC) if call.answered_at else None
    await outbound_rows.close_row(
        db,
        row,
        "completed" if outcome == "answered" else "abandoned",
        answered_at=answered,
        queue_id=call.queue_id,
        agent_id=agent.id if agent is not None else None,
        agent_answered_at=answered,
        talk_from=answered,
    )
