"""What must always hold between the ACD's agents and the switch, checked, not assumed.

An agent stuck in ``ringing`` or ``on_call`` takes no calls and nobody notices: on a real
Asterisk agents rang for 15 minutes on calls another agent had answered. Two rules catch
every such state, whatever bug led to it:

- no agent rings longer than its queue's ring time plus a margin (the Dial gives up at
  the ring time; the margin covers the FastAGI round trips);
- no agent is on a call the switch does not have: the call model (fed by AMI) has no live
  channel of the agent's device. Without an AMI link the ACD cannot tell, and the rule is
  not checked.

``violations`` lists what is wrong (pure: reads the ACD, changes nothing); the ACD's watch
(``ACD.check_invariants``) runs it periodically, logs each violation and frees the agent
with a state change whose reason says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from acd import agent_state as st

if TYPE_CHECKING:
    from acd.service import ACD, Agent

MARGIN_S = 10.0
STUCK_RINGING = "stuck_ringing"
NO_CALL_ON_SWITCH = "no_call_on_switch"


@dataclass(frozen=True)
class Violation:
    agent_id: int
    number: str
    kind: str  # STUCK_RINGING or NO_CALL_ON_SWITCH: the reason the agent is freed with
    detail: str  # for the log and the supervisor


def ring_limit_s(acd: ACD, agent: Agent) -> float:
    """How long the agent may ring: the ring time of the queue of the call it rings for
    (the longest of all queues when the call is not known)."""
    call = agent.call
    q = acd.queues.get(call.queue_id) if call is not None else None
    if q is not None:
        return float(q.ring_timeout_s)
    return float(max((q.ring_timeout_s for q in acd.queues.values()), default=0))


def violations(
    acd: ACD,
    now: float,
    has_device_channel: Callable[[str], bool | None] | None = None,
    margin_s: float = MARGIN_S,
) -> list[Violation]:
    """Every agent whose state the rules contradict at ``now``. ``has_device_channel``
    answers whether the switch has a live channel of a device (None: cannot tell)."""
    found: list[Violation] = []
    for agent in acd.agents.values():
        in_state = now - agent.since
        if agent.state == st.RINGING:
            limit = ring_limit_s(acd, agent)
            if in_state > limit + margin_s:
                found.append(
                    Violation(
                        agent.id,
                        agent.number,
                        STUCK_RINGING,
                        f"agent {agent.number} has rung {in_state:.0f} s, longer than the "
                        f"ring time {limit:.0f} s + {margin_s:.0f} s",
                    )
                )
        elif agent.state == st.ON_CALL and has_device_channel is not None:
            if in_state <= margin_s:
                continue  # AMI and FastAGI tell of a new call a moment apart
            if has_device_channel(agent.device) is False:
                found.append(
                    Violation(
                        agent.id,
                        agent.number,
                        NO_CALL_ON_SWITCH,
                        f"agent {agent.number} is on a call but the switch has no channel "
                        f"of {agent.device}",
                    )
                )
    return found
