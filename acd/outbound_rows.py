"""The calls row of a call ccboxd places to a customer (a queue callback, a campaign's
call): ``outbound``, the customer's number as caller and called number, opened with an
event that says what placed it and finished when the call ends. A row that cannot be
written is logged and the call goes on without it."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from twisted.logger import Logger

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector
    from drivers.asterisk.agi.session import AGISessionProtocol

log = Logger(namespace="ccbox.acd.outbound")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def open_row(
    db: DBConnector,
    session: AGISessionProtocol,
    number: str,
    name: str,
    kind: str,
    data: dict[str, Any],
    what: str,
    trunk_group: str = "",
) -> int | None:
    """The row of the call on ``session``'s channel to ``number``, with a ``kind`` event
    (``data``); None when it cannot be written (``what`` names the call in the log).
    ``trunk_group``: the trunk group it is dialed out on (a campaign's)."""
    env = session.env
    assert env is not None
    try:
        row = await db.calls.start(
            uniqueid=env.uniqueid,
            linkedid=env.uniqueid,
            direction="outbound",
            started_at=_now(),
            caller_number=number,
            caller_name=name,
            called_number=number,
            channel=env.channel,
            trunk_group=trunk_group,
        )
        await db.calls.add_event(row, kind, _now(), data)
    except Exception:
        log.failure("{what}: its calls row was not written", what=what)
        return None
    return row


async def close_row(
    db: DBConnector,
    row: int,
    disposition: str,
    *,
    answered_at: dt.datetime | None,
    queue_id: int,
    agent_id: int | None,
    agent_answered_at: dt.datetime | None,
    talk_from: dt.datetime | None,
) -> None:
    """The call ended now: its ``hangup`` event and the row finished (the talk counted
    from ``talk_from``; None: no talk). The hangup cause is the switch's (its Hangup event:
    appliance/call_rows.py)."""
    ended = _now()
    talk_ms = int((ended - talk_from).total_seconds() * 1000) if talk_from else None
    try:
        await db.calls.add_event(row, "hangup", ended, {"disposition": disposition})
        await db.calls.finish(
            row,
            ended,
            answered_at,
            None,
            disposition,
            queue_id=queue_id,
            agent_id=agent_id,
            agent_answered_at=agent_answered_at,
            talk_ms=talk_ms,
        )
    except Exception:
        log.failure("outbound call {row}: its calls row was not finished", row=row)
