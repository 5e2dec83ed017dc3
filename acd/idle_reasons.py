"""Why a ready agent gets no calls while callers wait: read-only, for the supervisor console.

An available agent is offered the next waiting call of every queue it serves the moment it
becomes available (acd/service.py, ``_dispatch_agent``), so an agent that stays available
while callers wait does not serve their queues. For each queue with callers waiting, this
says why, with the rule of ``ACD.serves``: a queue with required skills wants every one at
its minimum level (a direct member is served regardless); a queue without required skills
takes its members only. An agent who serves it may be held back by its open chats and
e-mails (the channels' call gate: the agent's ``call_with_chats`` is off).

Nothing here touches the routing engine's state or the hot path: it reads the ACD's agents
and queues and the engine's waiting lists, on the reactor thread, when a page asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from acd import agent_state as st

if TYPE_CHECKING:
    from acd.service import ACD, Agent

# What keeps an agent from a queue's callers.
SKILLS = "skills"  # short of (or without) one or more required skills
NOT_MEMBER = "not_member"  # a queue of members only, and not one of them
SERVES = "serves"  # it serves the queue: a call is on its way (the next dispatch)
CHATS = "chats"  # it serves the queue, but its open chats keep calls away (call_with_chats)


@dataclass(frozen=True)
class MissingSkill:
    skill_id: int
    have: int  # the agent's level; 0 without the skill
    need: int  # the queue's minimum


@dataclass(frozen=True)
class QueueReason:
    """Why the agent does not take one queue's waiting callers."""

    queue_id: int
    waiting: int
    why: str  # SKILLS, NOT_MEMBER or SERVES
    missing: tuple[MissingSkill, ...] = ()


def waiting_queues(acd: ACD) -> dict[int, int]:
    """Queue id -> callers waiting in line (not ringing an agent), for queues with any."""
    out = {}
    for qid in acd.queues:
        n = sum(1 for c in acd.router.waiting(qid) if c in acd.calls)
        if n:
            out[qid] = n
    return out


def why_no_calls(
    acd: ACD, agent: Agent, waiting: dict[int, int] | None = None
) -> list[QueueReason]:
    """For an available agent, why it takes none of the callers waiting, queue by queue;
    empty when it is not available or nobody waits. ``waiting``: ``waiting_queues(acd)``,
    when asking for many agents."""
    if agent.state != st.AVAILABLE:
        return []
    if waiting is None:
        waiting = waiting_queues(acd)
    out = []
    for qid, n in sorted(waiting.items()):
        q = acd.queues.get(qid)
        if q is None:
            continue
        if acd.serves(agent, q):
            out.append(QueueReason(qid, n, SERVES if acd.call_gate_open(agent.id) else CHATS))
        elif not q.requirements:
            out.append(QueueReason(qid, n, NOT_MEMBER))
        else:
            missing = tuple(
                MissingSkill(skill, agent.skills.get(skill, 0), level)
                for skill, level in q.requirements
                if agent.skills.get(skill, 0) < level
            )
            out.append(QueueReason(qid, n, SKILLS, missing))
    return out


def idle_agents(acd: ACD) -> dict[int, list[QueueReason]]:
    """Agent id -> reasons, for every available agent while callers wait anywhere."""
    waiting = waiting_queues(acd)
    if not waiting:
        return {}
    return {
        a.id: why_no_calls(acd, a, waiting) for a in acd.agents.values() if a.state == st.AVAILABLE
    }
