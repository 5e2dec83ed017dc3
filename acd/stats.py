"""Live statistics per queue and per agent, moved by the ACD at each step.

Service level is the share of calls answered within the queue's threshold among the calls
that were answered or abandoned after the threshold (callers who hung up sooner than the
threshold are not held against the center; a common contact-center convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class QueueStatsChanged:
    """Published on the event bus after every change of a queue's numbers."""

    stats: dict[str, Any]


@dataclass(frozen=True)
class DayStarted:
    """Published on the event bus when the day's counters start again (local midnight): the
    agents' figures changed without a change of state."""

    at: float


@dataclass
class QueueStats:
    queue_id: int
    name: str
    threshold_s: int
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    abandoned_after_sl: int = 0
    overflowed: int = 0
    callbacks: int = 0  # callers who chose to be called back
    wait_answered_s: float = 0.0
    talk_s: float = 0.0
    waiting: int = 0
    longest_wait_s: float = 0.0

    def new_day(self) -> None:
        """Midnight: the day's counters start again; the callers waiting stay."""
        self.offered = self.answered = self.answered_in_sl = 0
        self.abandoned = self.abandoned_after_sl = self.overflowed = self.callbacks = 0
        self.wait_answered_s = self.talk_s = 0.0

    def answer(self, waited_s: float) -> None:
        self.answered += 1
        self.wait_answered_s += waited_s
        if waited_s <= self.threshold_s:
            self.answered_in_sl += 1

    def abandon(self, waited_s: float) -> None:
        self.abandoned += 1
        if waited_s > self.threshold_s:
            self.abandoned_after_sl += 1

    @property
    def service_level(self) -> float | None:
        base = self.answered + self.abandoned_after_sl
        return self.answered_in_sl / base if base else None

    @property
    def avg_wait_s(self) -> float | None:
        return self.wait_answered_s / self.answered if self.answered else None

    def snapshot(self) -> dict[str, Any]:
        sl, wait = self.service_level, self.avg_wait_s
        return {
            "queue_id": self.queue_id,
            "name": self.name,
            "waiting": self.waiting,
            "longest_wait_s": round(self.longest_wait_s, 3),
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "overflowed": self.overflowed,
            "callbacks": self.callbacks,
            "service_level": None if sl is None else round(sl, 4),
            "avg_wait_s": None if wait is None else round(wait, 3),
            "talk_s": round(self.talk_s, 3),
        }


@dataclass
class AgentStats:
    handled: int = 0
    missed: int = 0
    talk_s: float = 0.0
    time_in: dict[str, float] = field(default_factory=dict)  # state -> seconds
