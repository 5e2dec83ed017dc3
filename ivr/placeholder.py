"""The placeholder inbound flow: answer, welcome, then the ACD queue, and the call written down.

It stands where the IVR interpreter will (the IVR issue replaces it); until then it proves
the path of one call: FastAGI session -> black list -> queue -> agent -> calls row with its
events, with a hangup handled at any point. The queue is the one named by the dialplan's
second AGI argument, else the first queue, unless the caller presses a digit during the
welcome: digit N picks the N-th queue. Without an ACD (or queues) the call just ends after
the welcome.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from acd.caller import wait_in_queue
from acd.service import ACDError
from drivers.asterisk.agi.session import AGIConnectionLost, AGISessionProtocol, DeadChannel

if TYPE_CHECKING:
    from acd.service import ACD
    from appliance.db.connector import DBConnector

PROMPT = "ccbox-welcome"
BLOCKED = "ccbox-blocked"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def inbound(session: AGISessionProtocol, db: DBConnector, acd: ACD | None = None) -> None:
    env = session.env
    assert env is not None
    call_id = await db.calls.start(
        uniqueid=env.uniqueid,
        linkedid=env.uniqueid,
        direction="inbound",
        started_at=_now(),
        caller_number=env.caller_number,
        caller_name=env.caller_name,
        called_number=(env.args[0] if env.args else env.dialed),
        channel=env.channel,
        trunk=env.channel.split("/", 1)[0],
    )
    answered_at = None
    disposition = "completed"
    queue_id = agent_id = None
    try:
        await db.calls.add_event(call_id, "flow_start", _now(), {"flow": "placeholder"})
        await session.answer()
        answered_at = _now()
        if acd is not None and acd.is_blacklisted(env.caller_number):
            disposition = "blacklisted"
            await db.calls.add_event(call_id, "blacklisted", _now(), {})
            await session.stream_file(BLOCKED)
            await session.hangup()
            return
        queues = [acd.queues[k] for k in sorted(acd.queues)][:9] if acd is not None else []
        keys = "".join(str(i + 1) for i in range(len(queues)))
        playback = await session.stream_file(PROMPT, keys)
        await db.calls.add_event(
            call_id,
            "prompt",
            _now(),
            {"prompt": PROMPT, "failed": playback.failed, "digit": playback.digit},
        )
        if session.hung_up:
            disposition = "caller_hangup"
            return
        if acd is not None and queues:
            wanted = env.args[1] if len(env.args) > 1 else None
            if playback.digit is not None and playback.digit in keys:
                q = queues[int(playback.digit) - 1]
            else:
                try:
                    q = acd.queue(wanted) if wanted else queues[0]
                except ACDError:
                    q = queues[0]
            queue_id = q.id
            priority = acd.priority_of(env.caller_number)
            call = acd.join(q.id, env.caller_number, env.uniqueid, priority)
            await db.calls.add_event(
                call_id, "queued", _now(), {"queue": q.name, "priority": priority}
            )
            outcome = await wait_in_queue(acd, session, call)
            queue_id = call.queue_id
            agent_id = call.agent.id if call.agent is not None else None
            await db.calls.add_event(
                call_id, outcome, _now(), {"agent": agent_id, "queue": queue_id}
            )
            disposition = {"answered": "completed"}.get(outcome, outcome)
        if not session.hung_up:
            await session.hangup()
    except (DeadChannel, AGIConnectionLost):
        if disposition == "completed" and agent_id is None:
            disposition = "caller_hangup"
    finally:
        await db.calls.add_event(call_id, "hangup", _now(), {"disposition": disposition})
        await db.calls.finish(
            call_id, _now(), answered_at, 16, disposition, queue_id=queue_id, agent_id=agent_id
        )
