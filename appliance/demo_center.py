"""The demo center's day: who calls when, for which queue, and how many agents answer.

A service line's day, 08:00 to 20:00, compressed into the demo's run (``--duration`` when
headless, else ``DAY_S`` and again): callers arrive as a Poisson process whose rate follows
``DAY_SHAPE`` (the busy hour, 10:00 to 11:00, at ``peak_per_s``) and walk the sample flow's
paths in the shares of ``ivr.sample_center.CALLER_PATHS`` (support the most, then billing
and sales, a few complaints that customer care calls back, one caller in seven served by the
menus alone). Each hour every team is staffed with Erlang C (acd/erlang.py) for 80 % of its
queue's calls answered within 20 s at that hour's forecast: agents log in as the hour needs
more of them, and idle ones log out when it needs fewer (an agent on a call finishes it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from acd import agent_state as st
from acd.erlang import agents_needed

# Each hour's calls against the busy hour's, 08:00 to 20:00: the morning rise to the peak
# at 10:00, the lunch dip, a smaller afternoon peak, the evening tail.
DAY_SHAPE = (0.45, 0.75, 1.0, 0.9, 0.65, 0.75, 0.85, 0.75, 0.6, 0.45, 0.35, 0.25)
OPENS_AT = 8
DAY_S = 600.0  # the interactive demo's day: twelve hours in ten minutes
TARGET, THRESHOLD_S = 0.8, 20.0  # the service level the teams are staffed for
RING_S = 2.0  # the simulated phones ring this long before the agent answers
WRAPUP_S = 5  # the demo queues' wrap-up (talk is compressed too: 30 s for a few minutes)
MESSAGE_SHARE = 0.8  # complaint callers who leave a message (and so get a callback)
# The team (agent's department in the demo roster) that answers each queue.
TEAMS = {"Support": "support", "Billing": "billing", "Sales": "sales", "Care": "care"}


@dataclass(frozen=True)
class Day:
    """The day compressed into ``period_s`` seconds of the run."""

    period_s: float
    peak_per_s: float

    def hour(self, elapsed_s: float) -> int:
        """The index in DAY_SHAPE of the hour ``elapsed_s`` after the start."""
        slot = self.period_s / len(DAY_SHAPE)
        return min(int((elapsed_s % self.period_s) / slot), len(DAY_SHAPE) - 1)

    def share(self, elapsed_s: float) -> float:
        """The share of the busy hour's rate arriving then (PoissonTraffic's curve)."""
        return DAY_SHAPE[self.hour(elapsed_s)]

    def clock(self, elapsed_s: float) -> str:
        return f"{OPENS_AT + self.hour(elapsed_s):02d}:00"


def queue_shares(paths: Iterable[tuple[str, int, str]]) -> dict[str, float]:
    """Each queue's share of the callers (a complaint reaches care only with a message)."""
    rows = list(paths)
    total = sum(weight for _, weight, _ in rows)
    shares: dict[str, float] = {}
    for _, weight, queue in rows:
        if queue:
            part = weight / total * (MESSAGE_SHARE if queue == "care" else 1.0)
            shares[queue] = shares.get(queue, 0.0) + part
    return shares


def handle_s(talk_s: float) -> float:
    """An agent's time per call: the ring, the talk, the wrap-up."""
    return RING_S + talk_s + WRAPUP_S


def staffing(rate_per_s: float, talk_s: float, shares: dict[str, float]) -> dict[str, int]:
    """Agents per queue for TARGET within THRESHOLD_S at ``rate_per_s`` callers a second."""
    h = handle_s(talk_s)
    return {
        q: agents_needed(rate_per_s * share, h, TARGET, THRESHOLD_S) if share > 0 else 0
        for q, share in shares.items()
    }


class Shifts:
    """Keeps each team at the hour's Erlang C staffing (checked every second). An agent a
    person logs in as (linked to a user, like the demo's agent1001) counts, but is never
    logged in or out by the plan."""

    def __init__(
        self,
        acd: Any,
        day: Day,
        talk_s: float,
        shares: dict[str, float],
        teams: dict[str, str],
    ) -> None:
        """``teams``: agent number -> the queue its team answers (agents not in it stay
        as they are: a center the admin added agents to)."""
        self.acd = acd
        self.day = day
        self.plans = [staffing(day.peak_per_s * f, talk_s, shares) for f in DAY_SHAPE]
        self.teams = teams
        self.staffed: dict[str, int] = {}  # queue -> agents logged in, at the last check
        # queue -> agents logged in at each hour's last check (None: not reached yet)
        self.by_hour: dict[str, list[int | None]] = {
            q: [None] * len(DAY_SHAPE) for q in self.plans[0]
        }

    def check(self, elapsed_s: float) -> None:
        hour = self.day.hour(elapsed_s)
        for queue, need in self.plans[hour].items():
            team = [
                a
                for a in self.acd.agents.values()
                if self.teams.get(a.number) == queue and a.status == "active"
            ]
            on = [a for a in team if a.state != st.LOGGED_OUT]
            off = [a for a in team if a.state == st.LOGGED_OUT and a.user_id is None]
            for agent in off[: max(0, need - len(on))]:
                self.acd.login(agent.id)
                on.append(agent)
            idle = [a for a in on if a.state == st.AVAILABLE and a.user_id is None]
            for agent in idle[: max(0, len(on) - need)]:
                self.acd.logout(agent.id)
                on.remove(agent)
            self.staffed[queue] = len(on)
            self.by_hour[queue][hour] = len(on)
