"""The FastAGI session of a callback: the agent's phone answered the ACD's Originate and runs
``ccbox-callback,<callback id>``; this session dials the customer and reports the outcome.

The number dialed is the one the ACD validated when the callback was requested (digits
only); it goes out through the generated ``ccbox-outbound`` context.

The callback is a call of its own: a calls row (``outbound``, the customer's number as both
caller and called number, so that the agent's screen pop and the recordings search find the
customer; a ``callback`` event names the request and the attempt), and it is
recorded as the queue's policy says, the capture running on the agent's channel with the
customer still on the left.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from twisted.logger import Logger

from acd import outbound_rows
from acd.service import CALLBACK_NUMBER
from drivers.asterisk.agi.session import AGIError, AGISessionProtocol
from drivers.asterisk.callmodel import DialEnded
from drivers.asterisk.device_names import device_of_channel

if TYPE_CHECKING:
    from acd.service import ACD, Agent, QueuedCall
    from appliance.db.connector import DBConnector
    from recorder.service import LiveCall, RecorderService

log = Logger(namespace="ccbox.acd.callback")
DIAL_TIMEOUT_S = 45
CONNECTING = "ccbox-callback-connecting"  # "Calling the customer back, please hold"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def run(
    session: AGISessionProtocol,
    acd: ACD,
    db: DBConnector | None = None,
    recorder: RecorderService | None = None,
) -> str:
    """Returns what happened: ``reached``, ``not_reached`` or ``unknown``."""
    env = session.env
    assert env is not None
    arg = env.args[0] if env.args else ""
    call = acd.callback(int(arg)) if arg.isdigit() else None
    device = device_of_channel(env.channel) or env.channel
    if call is None or not CALLBACK_NUMBER.match(call.caller):
        log.warn("callback {arg!r} from {dev}: no such callback waiting", arg=arg, dev=device)
        await session.hangup()
        return "unknown"
    if acd.answered(call, device) is None:
        # The agent's phone answered late (the offer moved on): nothing for it to do.
        await session.hangup()
        return "unknown"
    answered_at = _now()
    row = await _open_row(db, session, call) if db is not None else None
    live: LiveCall | None = None
    reached = False
    # The customer answers when the agent's Dial into ccbox-outbound does: AMI's DialEnd
    # ANSWER on the agent's channel. The talk counts from there, not from the agent's answer
    # (the connecting prompt and the customer's ringing are no talk).
    customer: list[dt.datetime] = []

    def dial_end(e: DialEnded) -> None:
        if e.uniqueid == env.uniqueid and e.status == "ANSWER" and not customer:
            customer.append(dt.datetime.fromtimestamp(e.at, dt.UTC))

    heard = acd.bus.subscribe(DialEnded, dial_end)
    try:
        if row is not None and recorder is not None and call.queue_id in acd.queues:
            queue = acd.queues[call.queue_id]
            live = await recorder.call_queued(session, row, queue, "", agent_side=True)
            await recorder.start_capture(session, live)  # the customer is dialed at once
        await session.stream_file(CONNECTING)
        # T: the agent (this Dial's calling side) has the transfer feature, so an attended
        # transfer (AMI Atxfer on the agent's channel) works on a callback too.
        dial = f"Local/{call.caller}@ccbox-outbound,{DIAL_TIMEOUT_S},T"
        await session.exec_("Dial", dial)
        reached = await session.get_variable("DIALSTATUS") == "ANSWER"
    except AGIError as exc:
        # The session was lost (GET VARIABLE answers even after a hangup): not counted as
        # reached, so the customer is tried again rather than forgotten.
        log.warn("callback {id}: session lost: {err}", id=call.callback_id, err=exc)
    finally:
        acd.bus.unsubscribe(heard)
        agent = call.agent
        acd.callback_finished(call, reached)
        if row is not None and db is not None:
            talk_from = customer[0] if customer else answered_at
            await _close_row(db, row, answered_at, talk_from, reached, call.queue_id, agent)
        if live is not None and recorder is not None:
            recorder.finished(live)
    if not session.hung_up:
        await session.hangup()
    return "reached" if reached else "not_reached"


async def _open_row(db: DBConnector, session: AGISessionProtocol, call: QueuedCall) -> int | None:
    """The callback's calls row (None when it cannot be written: the customer is called
    all the same)."""
    row = await outbound_rows.open_row(
        db,
        session,
        call.caller,
        call.caller_name,
        "callback",
        {"callback": call.callback_id, "attempt": call.attempts + 1},
        f"callback {call.callback_id}",
    )
    if row is not None:
        call.record_id = row  # the agent's desk pops this call
    return row


async def _close_row(
    db: DBConnector,
    row: int,
    answered_at: dt.datetime,
    talk_from: dt.datetime,
    reached: bool,
    queue_id: int,
    agent: Agent | None,
) -> None:
    """``answered_at``: the agent's phone answered; ``talk_from``: the customer did (the
    agent's answer when AMI did not say: no AMI link)."""
    await outbound_rows.close_row(
        db,
        row,
        "completed" if reached else "not_reached",
        answered_at=answered_at,
        queue_id=queue_id,
        agent_id=agent.id if agent is not None else None,
        agent_answered_at=answered_at if agent is not None else None,
        talk_from=talk_from if reached else None,
    )
