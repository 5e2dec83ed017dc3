"""An outbound floor in virtual time, driving the real pacers (acd/dialer/pacing.py).

Discrete events on a fake clock, no sockets: ``agents`` agents logged in for the whole run;
every second the pacer is asked what the dialing engine would ask it (idle agents, busy
agents, lines in flight) and told what the engine would tell it. A line is answered by a
person with probability ``answer_rate`` after a ring of 5-20 s (uniform), is busy
(``busy``), reaches a machine that AMD tells after 3 s more (``machine``), else it rings
out at 25 s; an answered call takes an idle agent at once, or waits up to 2 s for one to
free, else it is abandoned (the safe-harbor message). Talk time is lognormal (mean 120 s,
sigma 0.6 unless told), then 10 s of wrap-up. In preview mode the agent reads the lead for
``preview_s`` and dials it: the line is theirs, so it can never be abandoned.

Talk occupancy = talk time / logged-in time (talk cut at the end of the run); the abandon
rate = abandoned / answered, in percent. The pacer sees only what the engine sees: no ring
outcome, talk time or future event reaches it before it happens.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Any

from acd.dialer.abandon import AbandonMeter
from acd.dialer.call_history import GRACE_S
from acd.dialer.pacing import PacingSettings, make_pacer


@dataclass
class FloorResult:
    mode: str
    agents: int
    hours: float
    placed: int
    answered: int
    abandoned: int
    talk_s: float
    occupancy: float  # talk / logged-in, 0..1
    abandon_pct: float
    mean_level: float
    figures: dict[str, float] = field(default_factory=dict)


@dataclass
class FloorModel:
    mode: str
    agents: int
    seed: int = 1
    answer_rate: float = 0.3
    busy: float = 0.0  # share of lines busy (back in 0.5 s)
    machine: float = 0.0  # share answered by a machine (after a ring, AMD takes 3 s more)
    ring_min_s: float = 5.0
    ring_max_s: float = 20.0
    no_answer_s: float = 25.0
    talk_mean_s: float = 120.0
    talk_sigma: float = 0.6
    wrap_s: float = 10.0
    preview_s: float = 5.0
    # "wrap_end": handled() when the wrap-up is over; "talk_end": handled() at the end of
    # the talk with the wrap-up to come added, as acd/dialer/service.py reports it
    handled_at: str = "wrap_end"
    settings: PacingSettings = field(default_factory=PacingSettings)

    def run(self, hours: float) -> FloorResult:
        rng = random.Random(self.seed)
        end = hours * 3600.0
        self.now = 0.0
        meter = AbandonMeter()
        pacer: Any = make_pacer(self.mode, self.settings, meter, lambda: self.now)
        events: list[tuple[float, int, str, Any]] = []
        seq = 0

        def at(t: float, kind: str, data: Any = None) -> None:
            nonlocal seq
            seq += 1
            heapq.heappush(events, (t, seq, kind, data))

        mu = math.log(self.talk_mean_s) - self.talk_sigma**2 / 2
        idle = self.agents
        busy = 0
        in_flight = 0
        waiting: dict[int, float] = {}  # line -> answered at (a FIFO: dicts keep order)
        talk = 0.0
        placed = answered = abandoned = 0
        levels = 0.0
        ticks = 0

        def place(owner: bool) -> None:
            nonlocal seq, placed, in_flight
            placed += 1
            in_flight += 1
            pacer.placed(self.now)
            line = seq + 1
            x = rng.random()
            if x < self.answer_rate:
                ring = rng.uniform(self.ring_min_s, self.ring_max_s)
                at(self.now + ring, "answer", (line, ring, owner))
            elif x < self.answer_rate + self.busy:
                at(self.now + 0.5, "no_answer", (line, owner, "busy"))
            elif x < self.answer_rate + self.busy + self.machine:
                ring = rng.uniform(self.ring_min_s, self.ring_max_s) + 3.0
                at(self.now + ring, "no_answer", (line, owner, "machine"))
            else:
                at(self.now + self.no_answer_s, "no_answer", (line, owner, "no_answer"))

        def connect(wait: float) -> None:
            nonlocal idle, busy, in_flight, talk
            idle -= 1
            busy += 1
            in_flight -= 1
            pacer.connected(self.now, wait)
            t = rng.lognormvariate(mu, self.talk_sigma)
            talk += max(0.0, min(t, end - self.now))
            at(self.now + t, "talk_end", (t, "free"))

        def connect_own() -> None:
            nonlocal in_flight, talk
            in_flight -= 1
            pacer.connected(self.now, 0.0)
            t = rng.lognormvariate(mu, self.talk_sigma)
            talk += max(0.0, min(t, end - self.now))
            at(self.now + t, "talk_end", (t, "free_own"))

        def preview_next() -> None:
            at(self.now + self.preview_s, "dial_own")

        at(0.0, "tick")
        if self.mode == "preview":
            idle, busy = 0, self.agents  # each agent works their own lead
            for _ in range(self.agents):
                preview_next()
        while events:
            t, _, kind, data = heapq.heappop(events)
            if t > end:
                break
            self.now = t
            if kind == "tick":
                n = pacer.calls_to_place(t, idle, busy, in_flight)
                for _ in range(n):
                    place(owner=False)
                levels += pacer.figures()["dial_level"] if ticks % 60 == 0 else 0.0
                ticks += 1
                at(t + 1.0, "tick")
            elif kind == "dial_own":
                place(owner=True)
            elif kind == "answer":
                line, ring, owner = data
                answered += 1
                pacer.answered(t, ring)
                if owner:
                    connect_own()
                elif idle > 0:
                    connect(0.0)
                else:
                    waiting[line] = t
                    at(t + GRACE_S, "give_up", line)
            elif kind == "no_answer":
                line, owner, outcome = data
                in_flight -= 1
                pacer.unanswered(t, outcome)
                if owner:
                    preview_next()
            elif kind == "give_up":
                if waiting.pop(data, None) is not None:
                    in_flight -= 1
                    abandoned += 1
                    pacer.abandoned(t)
            elif kind == "talk_end":
                pacer.talk_ended(t, data[0])
                if self.handled_at == "talk_end":
                    pacer.handled(t, data[0] + self.wrap_s)
                at(t + self.wrap_s, data[1], data[0] + self.wrap_s)
            elif kind == "free":
                if self.handled_at == "wrap_end":
                    pacer.handled(t, data)
                busy -= 1
                idle += 1
                if waiting:
                    line = next(iter(waiting))
                    connect(t - waiting.pop(line))
            elif kind == "free_own":
                if self.handled_at == "wrap_end":
                    pacer.handled(t, data)
                preview_next()
        self.now = end
        return FloorResult(
            mode=self.mode,
            agents=self.agents,
            hours=hours,
            placed=placed,
            answered=answered,
            abandoned=abandoned,
            talk_s=talk,
            occupancy=talk / (self.agents * end),
            abandon_pct=100.0 * abandoned / answered if answered else 0.0,
            mean_level=levels / max(1, math.ceil(ticks / 60)),
            figures=pacer.figures(),
        )
