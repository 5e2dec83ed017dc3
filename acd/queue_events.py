"""The steps of a queued call, published on the event bus as they happen.

The live counters (acd/stats.py) and the agents' states (acd/agent_state.py) say how many
and who; these say which caller did what, in order, for the consumers that keep a call's
story: the Asterisk ``queue_log`` writer (appliance/reports/queue_log.py) reads them.

Steps (``QueueCallStep.step``):

    joined        the caller is in the queue's line (``position``: its place)
    rang_out      an agent rang the call's ring time without answering (``agent_id``)
    connected     an agent answered (``agent_id``; ``detail``: the agent leg's Uniqueid,
                  when the switch's AMI told it)
    completed     the answered call is over (``detail``: "caller" or "agent", who hung up
                  first, when known)
    transferred   the agent sent the caller on (``detail``: ``exten@context``; ``attended``
                  true for a consult-first transfer)
    abandoned     the caller hung up before an answer
    timed_out     the queue's longest wait passed
    emptied       the queue's last agent logged out and its callers may not wait unstaffed
    key           the caller pressed a key that leaves the line (``detail``: the key)
    gave_up       the call left the queue another way (handed to the dialplan, overflow)
"""

from __future__ import annotations

from dataclasses import dataclass

JOINED = "joined"
RANG_OUT = "rang_out"
CONNECTED = "connected"
COMPLETED = "completed"
TRANSFERRED = "transferred"
ABANDONED = "abandoned"
TIMED_OUT = "timed_out"
EMPTIED = "emptied"
KEY = "key"
GAVE_UP = "gave_up"


@dataclass(frozen=True)
class QueueCallStep:
    """One step of one queued call (the module docstring lists them)."""

    step: str
    call_id: int
    queue_id: int
    uniqueid: str  # the caller's channel
    caller: str  # the caller's number as the switch gave it (attacker-controlled)
    at: float
    position: int = 0  # place in the line (1 = next), 0 when not in the line
    agent_id: int | None = None
    detail: str = ""
    attended: bool = False
