"""The calls row of a call the IVR handles: opened when the session starts, its events
written as the call goes (an agent's answer at the moment it happens), closed with the
outcome when the session ends.

The hangup cause is not written here: it is the switch's (the Hangup event of the caller's
channel, appliance/call_rows.py), and ccboxd closing the session knows none.

The call never waits on these writes, and none of them can drop it: they go, in order,
through the database's write backlog (appliance/db/write_backlog.py), which keeps them
while the database refuses writes (a full disk) and writes them when it takes them again.
The call's id is known at once, before its row is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from appliance.hardware.trunks import ChannelWait, GroupOf, call_trunk

if TYPE_CHECKING:
    from acd.service import Agent, QueuedCall
    from appliance.db.connector import DBConnector
    from drivers.asterisk.agi.codec import AGIEnvironment

log = Logger(namespace="ccbox.ivr")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def span_ms(span: dt.timedelta) -> int:
    """A span in whole milliseconds, never below 0 (the calls row's _ms columns)."""
    return max(0, int(span.total_seconds() * 1000))


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
    agent_answered_at: dt.datetime | None = None  # the last agent's answer (this session)
    _talk_ms: int | None = field(default=None, init=False, repr=False)

    @classmethod
    async def open(
        cls,
        db: DBConnector,
        env: AGIEnvironment,
        group_of: GroupOf | None = None,
        channel_of: ChannelWait | None = None,
    ) -> CallRecord:
        """The call's record, at once: its row is written behind (never awaited here).
        ``group_of`` / ``channel_of``: a DAHDI channel's trunk group and the DAHDI channel of
        an Asterisk channel (the span monitor's; a PRI call's name has none, and chan_dahdi's
        event saying it may come just after the session), for the row."""
        called = env.args[0] if env.args else env.dialed
        started = now()
        cid = env.caller_id  # normalised at the edge (drivers/asterisk/caller_id.py)
        found = await channel_of(env.channel) if channel_of is not None else None
        trunk = call_trunk(env.channel, group_of, lambda name: found)
        call_id, written = db.calls.open_row(
            uniqueid=env.uniqueid,
            linkedid=env.uniqueid,
            direction="inbound",
            started_at=started,
            caller_number=cid.number,
            caller_name=cid.name,
            called_number=called,
            channel=env.channel,
            trunk=trunk.technology,
            trunk_group=trunk.group,
            trunk_channel=trunk.channel,
        )
        record = cls(db, call_id, called_number=called)
        record._track(written)
        if cid.raw is not None:  # what the trunk sent, when it is not what the row holds
            record._track(db.calls.add_event(call_id, "caller_id", started, {"raw": cid.raw}))
        return record

    def _track(self, d: defer.Deferred[Any]) -> None:
        """A write the call does not wait for: a refusal that is not a database fault (a
        bug) is logged with the call's id."""
        d.addErrback(lambda f: log.failure("call {id}: a write failed", f, id=self.call_id))

    def watch_answer(self, qcall: QueuedCall) -> None:
        """The queue entry tells this record the moment an agent answers it."""
        qcall.on_answered = lambda agent, at: self.agent_answered(agent, at, qcall.queue_id)

    def agent_answered(self, agent: Agent, at: float, queue_id: int | None) -> None:
        """An agent answered (ACD time, epoch seconds): the ``answered`` event, the agent
        and the answer time go on the row now, not when the call ends."""
        when = dt.datetime.fromtimestamp(at, dt.UTC)
        self.agent_answered_at, self.agent_id = when, agent.id
        if queue_id is not None:
            self.queue_id = queue_id
        self._track(self.db.calls.agent_answered(self.call_id, when, agent.id, queue_id))

    async def event(self, kind: str, data: dict[str, Any]) -> None:
        at = now()
        if kind == "answered" and self.agent_answered_at is not None:
            # ivr/queue_step.py's outcome, once the Dial returned: the talk is over, whatever
            # the flow plays after it (a survey, a goodbye); the event was written already
            if self._talk_ms is None:
                self._talk_ms = span_ms(at - self.agent_answered_at)
            return
        self._track(self.db.calls.add_event(self.call_id, kind, at, data))

    def caller_gone(self) -> None:
        """The caller hung up before the end of the flow (not after talking to an agent)."""
        if self.disposition == "completed" and self.agent_id is None:
            self.disposition = "caller_hangup"

    async def close(self) -> None:
        """The hangup event and the row's end, after everything else this call wrote. Not
        waited for: on a slow database the session (a socket, a FastAGI slot) would stay
        open until its writes are through; the backlog writes them in order, and a stopping
        connector writes what is queued before it stops."""
        ended = now()
        talk_ms = self._talk_ms
        if talk_ms is None and self.agent_answered_at is not None:  # lost while talking
            talk_ms = span_ms(ended - self.agent_answered_at)
        await self.event("hangup", {"disposition": self.disposition})
        finished = self.db.calls.finish(
            self.call_id,
            ended,
            self.answered_at,
            None,
            self.disposition,
            queue_id=self.queue_id,
            agent_id=self.agent_id,
            agent_answered_at=self.agent_answered_at,
            talk_ms=talk_ms,
        )
        self._track(finished)
