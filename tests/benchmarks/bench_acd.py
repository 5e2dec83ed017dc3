"""The routing engine: decisions per second and latency, Cython against its Python twin.

The center: 1,000 agents, 50 skills (5 to 10 per agent, levels 1-10), 50 queues (one or
two required skills, minimum level 3, mixed strategies), 200 calls waiting, 5% of the
agents available (a busy center: that is when calls wait). A decision is either
``route(queue)`` (a call arrives: which agent?) or ``next_call(agent)`` (an agent frees:
which call?), alternating over random queues and agents. Both engines run the same list.
"""

from __future__ import annotations

import random
import time
from types import ModuleType
from typing import Any

from acd import _route_c, _route_py
from acd._route_py import FEWEST_CALLS, LEAST_TALK, LONGEST_IDLE, SKILL_BEST
from tests.benchmarks.harness import Result, best_rate

AGENTS, SKILLS, QUEUES, WAITING = 1000, 50, 50, 200
DECISIONS = 20_000


def build(engine: ModuleType, seed: int = 1) -> Any:
    rng = random.Random(seed)
    r = engine.Router(seed=seed)
    for agent in range(1, AGENTS + 1):
        r.add_agent(agent)
        for skill in rng.sample(range(1, SKILLS + 1), rng.randint(5, 10)):
            r.set_skill(agent, skill, rng.randint(1, 10))
    strategies = [LONGEST_IDLE, FEWEST_CALLS, LEAST_TALK, SKILL_BEST]
    for q in range(1, QUEUES + 1):
        needs = rng.sample(range(1, SKILLS + 1), rng.randint(1, 2))
        r.add_queue(q, strategies[q % 4], [(s, 3) for s in needs])
    for agent in range(1, AGENTS + 1):
        r.record_call(agent, rng.randint(0, 10**9))
        r.set_available(agent, rng.random() < 0.05, rng.randint(0, 10**12))
    for call in range(1, WAITING + 1):
        r.enqueue(rng.randint(1, QUEUES), call, rng.choice([0, 0, 0, 5]), call)
    return r


def decisions(seed: int = 2) -> list[tuple[bool, int]]:
    rng = random.Random(seed)
    return [
        (i % 2 == 0, rng.randint(1, QUEUES) if i % 2 == 0 else rng.randint(1, AGENTS))
        for i in range(DECISIONS)
    ]


def run_all(r: Any, plan: list[tuple[bool, int]]) -> None:
    route, next_call = r.route, r.next_call
    for is_route, x in plan:
        if is_route:
            route(x)
        else:
            next_call(x)


def p99_us(r: Any, plan: list[tuple[bool, int]]) -> float:
    clock = time.perf_counter_ns
    lat = []
    for is_route, x in plan:
        t = clock()
        if is_route:
            r.route(x)
        else:
            r.next_call(x)
        lat.append(clock() - t)
    lat.sort()
    return lat[int(len(lat) * 0.99)] / 1000


def run() -> list[Result]:
    plan = decisions()
    fast, slow = build(_route_c), build(_route_py)
    # Same center, same answers (the tests hold this on random workloads too).
    for is_route, x in plan[:2000]:
        a = fast.route(x) if is_route else fast.next_call(x)
        b = slow.route(x) if is_route else slow.next_call(x)
        assert a == b, (is_route, x, a, b)
    c_rate = best_rate(lambda: run_all(fast, plan), DECISIONS, repeat=5)
    py_rate = best_rate(lambda: run_all(slow, plan), DECISIONS, repeat=3)
    c_p99 = min(p99_us(fast, plan) for _ in range(3))
    py_p99 = min(p99_us(slow, plan) for _ in range(3))
    return [
        Result("acd route", c_rate, "decisions/s", "acd._route_py twin", py_rate, better="higher"),
        Result(
            "acd route p99",
            c_p99,
            "us",
            "acd._route_py twin p99",
            py_p99,
            better="lower",
        ),
    ]
