"""Admin changes reach the running ACD: an agent or a queue is read again and applied in
memory and in the routing engine, without disturbing the calls in progress.

- An agent's name, status, skills, memberships and linked login apply at once; a new skill
  or membership is routed at once (an available agent is offered a waiting call it now
  serves). Its phone (``device``) changes at once when it is logged out, else when it logs
  out: a logged-in agent may be on another desk phone (login from a phone), and its calls
  ring the phone it is at.
- An agent set on leave or resigned cannot log in (the ACD checks the status); one logged
  in is logged out at once when idle (available, paused, wrap-up), or when its call ends.
- A queue's settings apply to the calls that join from now on (a holding call keeps its
  timers). A changed strategy or set of required skills rebuilds the routing engine from
  what the ACD holds (agents, availability, calls handled, waiting calls in their order):
  the engine has no way to change a queue in place. A new agent or queue is added.
- A chat or e-mail queue (``media``) is never the call ACD's: it is kept in
  ``ACD.channel_queues`` for the channels' router (a call queue turned into one: its
  waiting callers overflow, and it stays in the call ACD until its last call in progress
  ends there); an agent's conversation capacity
  (``max_chats``, ``chat_on_call``, ``call_with_chats``) applies at once. The channels'
  service hears of both through ``AgentConfigApplied`` / ``QueueConfigApplied`` on the bus.

Everything here runs on the reactor thread; ``reload_*`` read the database first.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from acd import agent_state as st
from acd.route import Router, queue_strategy
from acd.service import Agent, QueuedCallLeft
from acd.stats import QueueStats
from appliance.db.acd_store import ACDAgent, ACDQueue
from appliance.db.admin_store import AdminStore

if TYPE_CHECKING:
    from acd.service import ACD

log = Logger(namespace="ccbox.acd.live")
BUSY = (st.RINGING, st.ON_CALL)  # a call is on the agent's phone
_instances: weakref.WeakKeyDictionary[Any, LiveConfig] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class AgentConfigApplied:
    """An agent's settings were read again and applied (skills, memberships, capacity)."""

    agent_id: int


@dataclass(frozen=True)
class QueueConfigApplied:
    """A queue's settings were read again and applied (any medium)."""

    queue_id: int


def for_acd(acd: ACD) -> LiveConfig:
    """The one LiveConfig of this ACD (it listens to agent state changes)."""
    live = _instances.get(acd)
    if live is None:
        live = _instances[acd] = LiveConfig(acd)
    return live


class LiveConfig:
    def __init__(self, acd: ACD, store: AdminStore | None = None) -> None:
        self.acd = acd
        self.store = store or AdminStore(acd.db)
        self.pending_device: dict[int, str] = {}
        self.pending_logout: set[int] = set()
        # Call queues that take chats or e-mails now, kept in the call ACD while a call of
        # theirs is in progress (it ends in its queue); retried after each call or agent move.
        self.leaving: set[int] = set()
        self._retry: Any = None
        acd.bus.subscribe(st.AgentStateChanged, self._state_changed)
        acd.bus.subscribe(QueuedCallLeft, self._call_left)

    def reload_agent(self, agent_id: int) -> defer.Deferred[None]:
        """Read the agent (with its memberships) again and apply it."""
        d = self.store.acd_agent(agent_id)
        return d.addCallback(lambda found: self.apply_agent(*found))

    def reload_queue(self, queue_id: int) -> defer.Deferred[None]:
        return self.store.acd_queue(queue_id).addCallback(self.apply_queue)

    # ---- agents ---------------------------------------------------------------------------

    def apply_agent(self, row: ACDAgent, members: list[tuple[int, int]]) -> None:
        acd = self.acd
        agent = acd.agents.get(row.id)
        if agent is None:
            agent = Agent(row.id, row.number, row.name, "", row.status, since=acd.reactor.seconds())
            acd.agents[row.id] = agent
            acd.router.add_agent(row.id)
        agent.number, agent.name, agent.status = row.number, row.name, row.status
        agent.user_id = row.user_id
        agent.max_chats, agent.chat_on_call = row.max_chats, row.chat_on_call
        agent.call_with_chats = row.call_with_chats
        new_skills = dict(row.skills)
        for skill_id in set(agent.skills) | set(new_skills):
            level = new_skills.get(skill_id, 0)
            if agent.skills.get(skill_id, 0) != level:
                acd.router.set_skill(agent.id, skill_id, level)
        agent.skills = new_skills
        self._apply_members(agent.id, dict(members))
        if agent.state == st.LOGGED_OUT:
            self.pending_device.pop(agent.id, None)
            self._set_device(agent, row.device)
        elif row.device != agent.device:
            # Logged in, perhaps from another desk phone (its calls ring that one).
            self.pending_device[agent.id] = row.device
        else:
            self.pending_device.pop(agent.id, None)
        if row.status != "active" and agent.state != st.LOGGED_OUT:
            if agent.state in BUSY:
                self.pending_logout.add(agent.id)
            else:
                acd.logout(agent.id)
        elif row.status == "active":
            self.pending_logout.discard(agent.id)
        acd.gate_changed(agent.id)
        if agent.state == st.AVAILABLE:
            acd._dispatch_agent(agent)
        acd.bus.publish(AgentConfigApplied(agent.id))

    def _apply_members(self, agent_id: int, penalties: dict[int, int]) -> None:
        acd = self.acd
        for qid, cq in list(acd.channel_queues.items()):
            before = dict(cq.members)
            if before.get(agent_id) == penalties.get(qid):
                continue
            if qid in penalties:
                before[agent_id] = penalties[qid]
            else:
                before.pop(agent_id, None)
            acd.channel_queues[qid] = dataclasses.replace(cq, members=tuple(sorted(before.items())))
        for qid, q in list(acd.queues.items()):
            old = dict(q.members)
            if old.get(agent_id) == penalties.get(qid):
                continue
            if qid in penalties:
                old[agent_id] = penalties[qid]
            else:
                old.pop(agent_id, None)
            self._replace_queue(dataclasses.replace(q, members=tuple(sorted(old.items()))))
            acd.router.set_member(qid, agent_id, penalties.get(qid, -1))

    def _set_device(self, agent: Agent, device: str) -> None:
        by_device = self.acd.by_device
        if by_device.get(agent.device) is agent:
            del by_device[agent.device]
        agent.device = device
        if device:
            by_device[device] = agent

    def _state_changed(self, event: st.AgentStateChanged) -> None:
        self._retry_leaving()
        if event.new in BUSY:
            return
        agent = self.acd.agents.get(event.agent_id)
        if agent is None:
            return
        if event.new == st.LOGGED_OUT and agent.id in self.pending_device:
            self._set_device(agent, self.pending_device.pop(agent.id))
        if agent.id in self.pending_logout and event.new != st.LOGGED_OUT:
            self.pending_logout.discard(agent.id)
            if agent.status != "active":
                self.acd.logout(agent.id)
        elif event.new == st.LOGGED_OUT:
            self.pending_logout.discard(agent.id)

    # ---- queues ---------------------------------------------------------------------------

    def apply_queue(self, q: ACDQueue) -> None:
        acd = self.acd
        q = dataclasses.replace(q, members=tuple((a, p) for a, p in q.members if a in acd.agents))
        if q.media != "call":
            self._apply_channel_queue(q)
            acd.bus.publish(QueueConfigApplied(q.id))
            return
        acd.channel_queues.pop(q.id, None)
        self.leaving.discard(q.id)
        old = acd.queues.get(q.id)
        if old is None:
            acd.stats[q.id] = QueueStats(q.id, q.name, q.service_level_s)
            acd.router.add_queue(q.id, queue_strategy(q.name, q.strategy), list(q.requirements))
            for agent_id, penalty in q.members:
                acd.router.set_member(q.id, agent_id, penalty)
            self._replace_queue(q)
        else:
            stats = acd.stats[q.id]
            stats.name, stats.threshold_s = q.name, q.service_level_s
            self._replace_queue(q)
            if (old.strategy, old.requirements) != (q.strategy, q.requirements):
                self.rebuild_router()
            else:
                before, after = dict(old.members), dict(q.members)
                for agent_id in set(before) | set(after):
                    if before.get(agent_id) != after.get(agent_id):
                        acd.router.set_member(q.id, agent_id, after.get(agent_id, -1))
        acd._dispatch_queue(q.id)
        acd.bus.publish(QueueConfigApplied(q.id))

    def _apply_channel_queue(self, q: ACDQueue) -> None:
        """A chat or e-mail queue: the channels' router's. One that took calls until now
        leaves the call ACD: its waiting callers overflow as from a queue nobody staffs, and
        once no call of it is in progress (ringing, talking, a callback, an overflowed
        caller still on the line) it is gone from the call ACD; till then those calls end
        in it as they began."""
        acd = self.acd
        acd.channel_queues[q.id] = q
        if q.id not in acd.queues:
            return
        log.warn(
            "queue {name!r} now takes {media}: it leaves the call ACD", name=q.name, media=q.media
        )
        self.leaving.add(q.id)
        self._leave_call_acd()

    def _call_left(self, _event: QueuedCallLeft) -> None:
        self._retry_leaving()

    def _retry_leaving(self) -> None:
        """After the step of the ACD that told us (it may still use the queue)."""
        if self.leaving and self._retry is None:
            self._retry = self.acd.reactor.callLater(0, self._leave_call_acd)

    def _leave_call_acd(self) -> None:
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        acd = self.acd
        gone = False
        for qid in sorted(self.leaving):
            old = acd.queues.get(qid)
            if old is None or qid not in acd.channel_queues:
                self.leaving.discard(qid)
                continue
            for call in [acd.calls[c] for c in acd.router.waiting(qid) if c in acd.calls]:
                acd._leave_queue(call)
                acd.stats[qid].overflowed += 1
                call._deliver(acd._overflow(old, "empty"))
            if any(c.queue_id == qid for c in acd.calls.values()):
                continue
            self.leaving.discard(qid)
            del acd.queues[qid]
            if acd.queue_by_name.get(old.name) is old:
                del acd.queue_by_name[old.name]
            gone = True
        if gone:
            self.rebuild_router()

    def _replace_queue(self, q: ACDQueue) -> None:
        acd = self.acd
        old = acd.queues.get(q.id)
        if old is not None and acd.queue_by_name.get(old.name) is old:
            del acd.queue_by_name[old.name]
        acd.queues[q.id] = q
        acd.queue_by_name[q.name] = q

    def rebuild_router(self) -> None:
        """A new engine with what the old one held: queues as configured now, agents with
        their skills, availability, idle time and call counts, and the waiting calls."""
        acd, old = self.acd, self.acd.router
        new = Router()
        for q in acd.queues.values():
            new.add_queue(q.id, queue_strategy(q.name, q.strategy), list(q.requirements))
        for agent in acd.agents.values():
            new.add_agent(agent.id)
            for skill_id, level in agent.skills.items():
                new.set_skill(agent.id, skill_id, level)
            available, idle_us, calls, talk_us = old.agent_stats(agent.id)
            for n in range(calls):
                new.record_call(agent.id, talk_us if n == 0 else 0)
            new.set_available(agent.id, available, idle_us)
        for q in acd.queues.values():
            for agent_id, penalty in q.members:
                if agent_id in acd.agents:
                    new.set_member(q.id, agent_id, penalty)
            for call_id in old.waiting(q.id):
                call = acd.calls.get(call_id)
                if call is not None:
                    new.enqueue(q.id, call_id, call.priority, call.seq)
        acd.router = new
        log.info("routing engine rebuilt after a queue change")
