"""Which agent gets which conversation: the call ACD's routing engine (acd/route.py: the
Cython kernel, or the Python twin under ``CCBOX_PURE_PYTHON``), a second instance of it
that holds the chat and e-mail queues.

The engine knows "available" and nothing of capacity; here an agent is available when it
may take one more conversation now (acd/channels/capacity.py: logged in, not paused, below
``max_chats``, not on a call unless ``chat_on_call``). A conversation offered, active or in
wrap-up holds one of its agent's slots (:meth:`hold` / :meth:`release`). Strategies,
required skills, members with penalties, priority then arrival order: the same as calls.

"Idle since" for the strategies is the last time the agent was offered a conversation (or
came on duty): longest_idle hands chats out in turn, least-recently-offered first.

Pure and in memory (no reactor, no database): the channels' service drives it, and the
property tests drive it on both engines at once and hold their decisions equal.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType

from acd import agent_state as st
from acd import route
from acd.channels import capacity
from appliance.db.acd_store import ACDQueue


@dataclass
class AgentSlots:
    """What the router knows of an agent."""

    id: int
    skills: dict[int, int] = field(default_factory=dict)
    max_chats: int = 3
    chat_on_call: bool = False
    state: str = st.LOGGED_OUT  # the call ACD's state
    held: set[int] = field(default_factory=set)  # conversations holding a slot
    last_us: int = 0  # when last offered one (or came on duty): "idle since"
    available: bool = False  # as the engine has it
    handled: int = 0
    talk_us: int = 0

    @property
    def open(self) -> int:
        return len(self.held)

    def may_take(self) -> bool:
        return capacity.may_take_conversation(
            self.state, len(self.held), self.max_chats, self.chat_on_call
        )


@dataclass(frozen=True)
class RouteOffer:
    """Offer ``conversation_id`` (taken out of its queue's line) to ``agents`` (one, or
    every candidate for ring_all); each of them now holds a slot for it."""

    conversation_id: int
    queue_id: int
    agents: tuple[int, ...]


class ChannelRouter:
    def __init__(self, now_us: Callable[[], int], engine: ModuleType | None = None) -> None:
        """``now_us``: the clock (microseconds); ``engine``: the routing module
        (acd._route_c or acd._route_py; default: the one acd.route selected)."""
        self.now_us = now_us
        self.module = engine if engine is not None else route.implementation
        self.engine = self.module.Router()
        self.queues: dict[int, ACDQueue] = {}
        self.agents: dict[int, AgentSlots] = {}
        # Per queue, its waiting conversations (-priority, seq, id) in the engine's order;
        # and where each waits.
        self.lines: dict[int, list[tuple[int, int, int]]] = {}
        self.where: dict[int, tuple[int, int, int]] = {}  # conversation -> (queue, prio, seq)
        self.violations = 0  # offers refused because the engine named a full agent
        # conversation -> (agent, until us): an agent who passed it on gets it back only
        # after a while (decided here, above the engine: both engines decide alike)
        self.barred: dict[int, tuple[int, int]] = {}

    # ---- configuration --------------------------------------------------------------------

    def configure(self, queues: Iterable[ACDQueue], agents: Iterable[AgentSlots]) -> None:
        """A new engine with these queues and agents (settings as given); what is held and
        waiting is kept. The engine has no way to change a queue in place, so any change
        of settings comes through here (the ACD's live configuration does the same)."""
        old_agents = self.agents
        self.queues = {q.id: q for q in queues if q.media != "call"}
        self.agents = {}
        for a in agents:
            before = old_agents.get(a.id)
            if before is not None:
                a.held, a.last_us, a.handled, a.talk_us = (
                    before.held,
                    before.last_us,
                    before.handled,
                    before.talk_us,
                )
            a.available = False
            self.agents[a.id] = a
        engine = self.module.Router()
        for q in self.queues.values():
            engine.add_queue(q.id, route.queue_strategy(q.name, q.strategy), list(q.requirements))
        for a in self.agents.values():
            engine.add_agent(a.id)
            for skill_id, level in a.skills.items():
                engine.set_skill(a.id, skill_id, level)
            if a.handled:
                engine.record_call(a.id, a.talk_us)
                for _ in range(a.handled - 1):
                    engine.record_call(a.id, 0)
        for q in self.queues.values():
            for agent_id, penalty in q.members:
                if agent_id in self.agents:
                    engine.set_member(q.id, agent_id, penalty)
        self.engine = engine
        for a in self.agents.values():
            self._sync(a)
        waiting = sorted(self.where.items(), key=lambda kv: (-kv[1][1], kv[1][2]))
        self.lines = {q: [] for q in self.queues}
        self.where = {}
        for conversation_id, (queue_id, priority, seq) in waiting:
            if queue_id in self.queues:
                self.enqueue(conversation_id, queue_id, priority, seq)

    def set_state(self, agent_id: int, state: str) -> None:
        """The call ACD's state of the agent changed."""
        a = self.agents.get(agent_id)
        if a is None:
            return
        away = a.state in capacity.AWAY_STATES
        a.state = state
        if away and state not in capacity.AWAY_STATES:
            a.last_us = self.now_us()  # on duty again: idle from now
        self._sync(a)

    def _sync(self, a: AgentSlots) -> None:
        available = a.may_take()
        if available != a.available:
            a.available = available
            self.engine.set_available(a.id, available, a.last_us if available else -1)
        elif available:
            self.engine.set_available(a.id, True, a.last_us)

    # ---- slots ----------------------------------------------------------------------------

    def hold(self, agent_id: int, conversation_id: int) -> None:
        """The agent holds a slot for this conversation (offered, active or wrap-up)."""
        a = self.agents[agent_id]
        a.held.add(conversation_id)
        a.last_us = self.now_us()
        self._sync(a)

    def release(self, agent_id: int, conversation_id: int, talk_us: int = -1) -> None:
        """The slot is free again; ``talk_us`` >= 0: a conversation handled (for the
        fewest_calls and least_talk strategies)."""
        a = self.agents.get(agent_id)
        if a is None or conversation_id not in a.held:
            return
        a.held.discard(conversation_id)
        if talk_us >= 0:
            a.handled += 1
            a.talk_us += talk_us
            self.engine.record_call(a.id, talk_us)
        self._sync(a)

    def open_count(self, agent_id: int) -> int:
        a = self.agents.get(agent_id)
        return a.open if a is not None else 0

    def may_take(self, agent_id: int) -> bool:
        a = self.agents.get(agent_id)
        return a is not None and a.may_take()

    # ---- lines ----------------------------------------------------------------------------

    def enqueue(self, conversation_id: int, queue_id: int, priority: int, seq: int) -> None:
        if conversation_id in self.where:
            raise ValueError(f"conversation {conversation_id} is already waiting")
        self.engine.enqueue(queue_id, conversation_id, priority, seq)
        bisect.insort(self.lines.setdefault(queue_id, []), (-priority, seq, conversation_id))
        self.where[conversation_id] = (queue_id, priority, seq)

    def dequeue(self, conversation_id: int) -> bool:
        found = self.where.pop(conversation_id, None)
        if found is None:
            return False
        queue_id, priority, seq = found
        self.engine.dequeue(conversation_id)
        line = self.lines[queue_id]
        i = bisect.bisect_left(line, (-priority, seq, conversation_id))
        if i < len(line) and line[i][2] == conversation_id:
            del line[i]
        return True

    def waiting(self, queue_id: int) -> list[int]:
        """The queue's waiting conversations, next first."""
        return [e[2] for e in self.lines.get(queue_id, ())]

    def position(self, conversation_id: int) -> int:
        """1: next in its queue; 0: not waiting."""
        found = self.where.get(conversation_id)
        if found is None:
            return 0
        queue_id, priority, seq = found
        return bisect.bisect_left(self.lines[queue_id], (-priority, seq, conversation_id)) + 1

    # ---- an agent kept from a conversation for a while ------------------------------------

    def bar(self, conversation_id: int, agent_id: int, until_us: int) -> None:
        """Every dispatch until ``until_us`` offers the conversation to others (the agent
        passed it to a queue); none: it waits for the agent (or another) after."""
        self.barred[conversation_id] = (agent_id, until_us)

    def forget(self, conversation_id: int) -> None:
        """The conversation is over: its bar goes."""
        self.barred.pop(conversation_id, None)

    def _is_barred(self, conversation_id: int, agent_id: int) -> bool:
        bar = self.barred.get(conversation_id)
        if bar is None or bar[0] != agent_id:
            return False
        if bar[1] > self.now_us():
            return True
        del self.barred[conversation_id]
        return False

    # ---- decisions ------------------------------------------------------------------------

    def dispatch(self, exclude: Iterable[int] = ()) -> list[RouteOffer]:
        """Pair available agents with waiting conversations now, the best waiting one
        first across queues (priority, then arrival); each pair's conversation leaves its
        line and its agents hold a slot for it. ``exclude``: agents left out this once
        (those who just let an offer go: others get it first, as with calls)."""
        left_out = [self.agents[a] for a in exclude if a in self.agents]
        for a in left_out:
            if a.available:
                self.engine.set_available(a.id, False)
                a.available = False
        try:
            return self._dispatch()
        finally:
            for a in left_out:
                self._sync(a)

    def _dispatch(self) -> list[RouteOffer]:
        """Passes of the engine's decisions. An agent the engine pairs with a conversation
        it is barred from sits the rest of the pass out (others get it); then, back, it
        may take what else waits, the barred conversation hidden from the engine if it
        still waits (each pass takes a conversation out of line or hides one: it ends)."""
        offers: list[RouteOffer] = []
        hidden: list[int] = []
        try:
            while True:
                benched: dict[int, int] = {}
                offers += self._pass(benched)
                again = False
                for agent_id, conversation_id in benched.items():
                    self._sync(self.agents[agent_id])
                    again = again or self.agents[agent_id].available
                    if conversation_id in self.where and conversation_id not in hidden:
                        self.engine.dequeue(conversation_id)
                        hidden.append(conversation_id)
                if not again:
                    return offers
        finally:
            for conversation_id in hidden:
                found = self.where.get(conversation_id)
                if found is not None:
                    self.engine.enqueue(found[0], conversation_id, found[1], found[2])

    def _pass(self, benched: dict[int, int]) -> list[RouteOffer]:
        offers: list[RouteOffer] = []
        stuck: set[int] = set()
        while True:
            heads = [
                (line[0], qid) for qid, line in self.lines.items() if line and qid not in stuck
            ]
            if not heads:
                return offers
            _head, queue_id = min(heads)
            agent_id = self.engine.route(queue_id)
            if agent_id < 0:
                stuck.add(queue_id)
                continue
            conversation_id = self.engine.next_call(agent_id)
            if conversation_id < 0:  # its conversations are hidden (barred) or elsewhere
                stuck.add(queue_id)
                continue
            if self._is_barred(conversation_id, agent_id):
                a = self.agents[agent_id]
                a.available = False
                self.engine.set_available(agent_id, False)
                benched[agent_id] = conversation_id
                continue
            offer = self._offer(conversation_id, agent_id)
            if offer is not None:
                offers.append(offer)

    def _offer(self, conversation_id: int, agent_id: int) -> RouteOffer | None:
        queue_id = self.where[conversation_id][0]
        q = self.queues[queue_id]
        agents = [agent_id]
        if q.strategy == "ring_all":
            agents += [a for a in self.engine.candidates(queue_id) if a != agent_id]
        agents = [a for a in agents if not self._is_barred(conversation_id, a) and self._check(a)]
        if not agents:
            return None
        self.dequeue(conversation_id)
        for a in agents:
            self.hold(a, conversation_id)
        return RouteOffer(conversation_id, queue_id, tuple(agents))

    def _check(self, agent_id: int) -> bool:
        a = self.agents[agent_id]
        if a.may_take():
            return True
        # The engine named an agent the capacity rules refuse: never offered; counted (the
        # tests hold it at 0) and the engine told again.
        self.violations += 1
        a.available = not a.may_take()
        self._sync(a)
        return False
