"""The placeholder inbound flow: answer, play a prompt, hang up, and write the call down.

It stands where the IVR interpreter will (the IVR issue replaces it); until then it proves
the path of one call: FastAGI session -> calls row with its events -> hangup handled at
any point.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from drivers.asterisk.agi.session import AGIConnectionLost, AGISessionProtocol, DeadChannel

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector

PROMPT = "ccbox-welcome"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def inbound(session: AGISessionProtocol, db: DBConnector) -> None:
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
    try:
        await db.calls.add_event(call_id, "flow_start", _now(), {"flow": "placeholder"})
        await session.answer()
        answered_at = _now()
        playback = await session.stream_file(PROMPT)
        await db.calls.add_event(
            call_id, "prompt", _now(), {"prompt": PROMPT, "failed": playback.failed}
        )
        if session.hung_up:
            disposition = "caller_hangup"
        else:
            await session.hangup()
    except (DeadChannel, AGIConnectionLost):
        disposition = "caller_hangup"
    finally:
        await db.calls.add_event(call_id, "hangup", _now(), {"disposition": disposition})
        await db.calls.finish(call_id, _now(), answered_at, 16, disposition)
