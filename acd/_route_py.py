"""The routing engine, pure Python: the reference of ``_route_c`` (same API, same choices).

The engine holds what a routing decision needs, in memory: agents (skills with levels,
available or not, idle since when in microseconds, calls handled, talk time), queues
(strategy, required skills with minimum levels, direct members with a penalty) and the calls
waiting in them (priority, arrival order). It answers two questions, both "decisions":

- ``route(queue)``: the best available agent for that queue's next call (-1: none);
- ``next_call(agent)``: the best waiting call for an agent that just became available,
  across every queue it serves (-1: none).

An agent serves a queue when it is a direct member, or when it has every required skill at
the minimum level or above. Among the available agents that serve a queue only the lowest
penalty counts (skill-based agents have penalty 0); then the strategy orders them:

==================  =======================================================================
longest_idle        the agent idle the longest (across all its queues: fair to multi-skill)
fewest_calls        fewest calls handled, then longest idle
least_talk          least talk time, then longest idle
round_robin         the next agent after the queue's last pick, in agent-id order
ring_all            every available agent rings (``candidates``); ``route`` gives the first
random              uniform among them (xorshift64* generator, the same in both engines)
weighted_random     weighted by skill score (the sum of the agent's levels in the required
                    skills, at least 1)
skill_best          the highest skill score, then longest idle
==================  =======================================================================

Remaining ties go to the lower agent id. Waiting calls are ordered by priority (higher
first), then arrival order ``seq`` (lower first), across queues; a call put back with its
old ``seq`` keeps its place.
"""

from __future__ import annotations

import bisect

STRATEGIES = (
    "longest_idle",
    "fewest_calls",
    "least_talk",
    "round_robin",
    "ring_all",
    "random",
    "weighted_random",
    "skill_best",
)
(
    LONGEST_IDLE,
    FEWEST_CALLS,
    LEAST_TALK,
    ROUND_ROBIN,
    RING_ALL,
    RANDOM,
    WEIGHTED_RANDOM,
    SKILL_BEST,
) = range(len(STRATEGIES))

_MASK = (1 << 64) - 1


class _Agent:
    __slots__ = ("available", "calls", "id", "idle_since", "skills", "talk_us")

    def __init__(self, agent_id: int) -> None:
        self.id = agent_id
        self.skills: dict[int, int] = {}
        self.available = False
        self.idle_since = 0
        self.calls = 0
        self.talk_us = 0


class _Queue:
    __slots__ = ("eligible", "id", "members", "requirements", "rr_last", "strategy", "waiting")

    def __init__(self, queue_id: int, strategy: int, requirements: list[tuple[int, int]]) -> None:
        self.id = queue_id
        self.strategy = strategy
        self.requirements = list(requirements)
        self.members: dict[int, int] = {}  # agent id -> penalty
        # (agent id, penalty, skill score), in agent-id order
        self.eligible: list[tuple[int, int, int]] = []
        self.waiting: list[tuple[int, int, int]] = []  # (-priority, seq, call id), sorted
        self.rr_last = -1


class Router:
    def __init__(self, seed: int = 1) -> None:
        self._agents: dict[int, _Agent] = {}
        self._queues: dict[int, _Queue] = {}
        self._call_queue: dict[int, int] = {}  # call id -> queue id
        self._agent_queues: dict[int, list[int]] = {}  # agent id -> queue ids it serves
        self._rng = (seed & _MASK) or 1

    # ---- the random generator (xorshift64*) -----------------------------------------------

    def _next_random(self) -> int:
        x = self._rng
        x ^= x >> 12
        x ^= (x << 25) & _MASK
        x ^= x >> 27
        self._rng = x
        return ((x * 0x2545F4914F6CDD1D) & _MASK) >> 11

    # ---- agents ---------------------------------------------------------------------------

    def add_agent(self, agent_id: int) -> None:
        if agent_id in self._agents:
            raise ValueError(f"agent {agent_id} exists")
        self._agents[agent_id] = _Agent(agent_id)
        self._agent_queues[agent_id] = []
        self._refresh_agent(agent_id)

    def remove_agent(self, agent_id: int) -> None:
        self._agent(agent_id)
        for q in self._queues.values():
            q.members.pop(agent_id, None)
            q.eligible = [e for e in q.eligible if e[0] != agent_id]
            if q.rr_last == agent_id:
                q.rr_last = -1
        del self._agents[agent_id]
        del self._agent_queues[agent_id]

    def set_skill(self, agent_id: int, skill_id: int, level: int) -> None:
        """Level 1-10; 0 removes the skill."""
        if not 0 <= level <= 10:
            raise ValueError("skill level must be 0-10")
        a = self._agent(agent_id)
        if level:
            a.skills[skill_id] = level
        else:
            a.skills.pop(skill_id, None)
        self._refresh_agent(agent_id)

    def set_available(self, agent_id: int, available: bool, now_us: int = -1) -> None:
        """Available again: idle since ``now_us`` (kept as it was when -1)."""
        a = self._agent(agent_id)
        a.available = bool(available)
        if available and now_us >= 0:
            a.idle_since = now_us

    def record_call(self, agent_id: int, talk_us: int) -> None:
        a = self._agent(agent_id)
        a.calls += 1
        a.talk_us += talk_us

    def agent_stats(self, agent_id: int) -> tuple[bool, int, int, int]:
        a = self._agent(agent_id)
        return a.available, a.idle_since, a.calls, a.talk_us

    def _agent(self, agent_id: int) -> _Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise KeyError(f"no agent {agent_id}") from None

    # ---- queues ---------------------------------------------------------------------------

    def add_queue(self, queue_id: int, strategy: int, requirements: list[tuple[int, int]]) -> None:
        if queue_id in self._queues:
            raise ValueError(f"queue {queue_id} exists")
        if not 0 <= strategy < len(STRATEGIES):
            raise ValueError(f"unknown strategy {strategy}")
        for _skill, level in requirements:
            if not 1 <= level <= 10:
                raise ValueError("minimum skill level must be 1-10")
        q = _Queue(queue_id, strategy, requirements)
        self._queues[queue_id] = q
        self._rebuild(q)

    def set_member(self, queue_id: int, agent_id: int, penalty: int) -> None:
        """A direct member with a penalty (0 best); a negative penalty removes it."""
        q = self._queue(queue_id)
        self._agent(agent_id)
        if penalty < 0:
            q.members.pop(agent_id, None)
        else:
            q.members[agent_id] = penalty
        self._update(q, agent_id)

    def _queue(self, queue_id: int) -> _Queue:
        try:
            return self._queues[queue_id]
        except KeyError:
            raise KeyError(f"no queue {queue_id}") from None

    def _refresh_agent(self, agent_id: int) -> None:
        for q in self._queues.values():
            self._update(q, agent_id)

    def _rebuild(self, q: _Queue) -> None:
        for agent_id in self._agents:
            self._update(q, agent_id)

    def _update(self, q: _Queue, agent_id: int) -> None:
        """Recompute whether (and how) one agent serves one queue."""
        a = self._agents[agent_id]
        score = 0
        qualified = bool(q.requirements)
        for skill, minimum in q.requirements:
            level = a.skills.get(skill, 0)
            if level < minimum:
                qualified = False
            score += level
        entry: tuple[int, int, int] | None = None
        if agent_id in q.members:
            entry = (agent_id, q.members[agent_id], max(score, 1))
        elif qualified:
            entry = (agent_id, 0, max(score, 1))
        eligible = q.eligible
        i = bisect.bisect_left(eligible, (agent_id,))
        present = i < len(eligible) and eligible[i][0] == agent_id
        if entry is not None:
            if present:
                eligible[i] = entry
            else:
                eligible.insert(i, entry)
        elif present:
            del eligible[i]
        queues = self._agent_queues[agent_id]
        if entry is not None and q.id not in queues:
            queues.append(q.id)
            queues.sort()
        elif entry is None and q.id in queues:
            queues.remove(q.id)

    # ---- calls ----------------------------------------------------------------------------

    def enqueue(self, queue_id: int, call_id: int, priority: int, seq: int) -> None:
        q = self._queue(queue_id)
        if call_id in self._call_queue:
            raise ValueError(f"call {call_id} is already waiting")
        entry = (-priority, seq, call_id)
        lo, hi = 0, len(q.waiting)
        while lo < hi:
            mid = (lo + hi) // 2
            if q.waiting[mid] < entry:
                lo = mid + 1
            else:
                hi = mid
        q.waiting.insert(lo, entry)
        self._call_queue[call_id] = queue_id

    def dequeue(self, call_id: int) -> bool:
        queue_id = self._call_queue.pop(call_id, None)
        if queue_id is None:
            return False
        q = self._queues[queue_id]
        q.waiting = [e for e in q.waiting if e[2] != call_id]
        return True

    def waiting(self, queue_id: int) -> list[int]:
        return [e[2] for e in self._queue(queue_id).waiting]

    def position(self, call_id: int) -> int:
        """1 for the next call to be served in its queue; 0 when not waiting."""
        queue_id = self._call_queue.get(call_id)
        if queue_id is None:
            return 0
        for i, e in enumerate(self._queues[queue_id].waiting):
            if e[2] == call_id:
                return i + 1
        return 0

    # ---- decisions ------------------------------------------------------------------------

    def _pool(self, q: _Queue) -> list[tuple[int, int, int]]:
        """The available eligible agents of the lowest penalty present."""
        agents = self._agents
        best = -1
        pool: list[tuple[int, int, int]] = []
        for e in q.eligible:
            if not agents[e[0]].available:
                continue
            if best < 0 or e[1] < best:
                best = e[1]
                pool = [e]
            elif e[1] == best:
                pool.append(e)
        return pool

    def _key(self, q: _Queue, e: tuple[int, int, int]) -> tuple[int, ...]:
        a = self._agents[e[0]]
        s = q.strategy
        if s == FEWEST_CALLS:
            return (a.calls, a.idle_since, a.id)
        if s == LEAST_TALK:
            return (a.talk_us, a.idle_since, a.id)
        if s == SKILL_BEST:
            return (-e[2], a.idle_since, a.id)
        return (a.idle_since, a.id)

    def route(self, queue_id: int) -> int:
        q = self._queue(queue_id)
        pool = self._pool(q)
        if not pool:
            return -1
        s = q.strategy
        if s == ROUND_ROBIN:
            pick = next((e for e in pool if e[0] > q.rr_last), pool[0])
            q.rr_last = pick[0]
            return pick[0]
        if s == RANDOM:
            return pool[self._next_random() % len(pool)][0]
        if s == WEIGHTED_RANDOM:
            r = self._next_random() % sum(e[2] for e in pool)
            for e in pool:
                if r < e[2]:
                    return e[0]
                r -= e[2]
        return min(pool, key=lambda e: self._key(q, e))[0]

    def candidates(self, queue_id: int) -> list[int]:
        """Every available agent of the queue's lowest penalty, best first (ring-all)."""
        q = self._queue(queue_id)
        return [e[0] for e in sorted(self._pool(q), key=lambda e: self._key(q, e))]

    def next_call(self, agent_id: int) -> int:
        self._agent(agent_id)
        best: tuple[int, int, int] | None = None
        for queue_id in self._agent_queues[agent_id]:
            waiting = self._queues[queue_id].waiting
            if waiting and (best is None or waiting[0] < best):
                best = waiting[0]
        return best[2] if best is not None else -1

    def call_queue(self, call_id: int) -> int:
        return self._call_queue.get(call_id, -1)
