"""The calls row of a call the IVR handles: opened when the session starts, its events
written as the call goes, closed with the outcome when the session ends."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from appliance.db.connector import DBConnector
    from drivers.asterisk.agi.codec import AGIEnvironment


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class CallRecord:
    """One call's row and what the calls row gets when the session ends."""

    db: DBConnector
    call_id: int
    answered_at: dt.datetime | None = None
    disposition: str = "completed"
    queue_id: int | None = None
    agent_id: int | None = None
    called_number: str = ""  # the dialed number (the DID): recording policy
    recording: Any = None  # recorder.service.LiveCall once the call entered a queue

    @classmethod
    async def open(cls, db: DBConnector, env: AGIEnvironment) -> CallRecord:
        called = env.args[0] if env.args else env.dialed
        call_id = await db.calls.start(
            uniqueid=env.uniqueid,
            linkedid=env.uniqueid,
            direction="inbound",
            started_at=now(),
            caller_number=env.caller_number,
            caller_name=env.caller_name,
            called_number=called,
            channel=env.channel,
            trunk=env.channel.split("/", 1)[0],
        )
        return cls(db, call_id, called_number=called)

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        await self.db.calls.add_event(self.call_id, kind, now(), data)

    def caller_gone(self) -> None:
        """The caller hung up before the end of the flow (not after talking to an agent)."""
        if self.disposition == "completed" and self.agent_id is None:
            self.disposition = "caller_hangup"

    async def close(self) -> None:
        await self.event("hangup", {"disposition": self.disposition})
        await self.db.calls.finish(
            self.call_id,
            now(),
            self.answered_at,
            16,
            self.disposition,
            queue_id=self.queue_id,
            agent_id=self.agent_id,
        )
