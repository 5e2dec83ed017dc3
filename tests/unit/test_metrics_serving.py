"""The metrics count a queue's agents by state with set operations over a skill index: the
same agents as ``ACD.serves`` (members, or every required skill at its level), on random
centers."""

from __future__ import annotations

import random
from typing import Any, cast

from twisted.internet.task import Clock

from acd import agent_state as st
from acd.service import ACD, Agent
from appliance.db.acd_store import ACDQueue
from appliance.eventbus import EventBus
from appliance.reports.metrics import _Serving


def queue(qid: int, requirements: tuple[tuple[int, int], ...], members: tuple[int, ...]) -> Any:
    return ACDQueue(
        qid, f"q{qid}", "", "longest_idle", 20, 300, 10, 15, 0, None, 3,
        requirements, tuple((m, 0) for m in members),
    )  # fmt: skip


def agent(i: int, rnd: random.Random) -> Agent:
    skills = {s: rnd.randint(0, 5) for s in rnd.sample(range(1, 6), rnd.randint(0, 4))}
    return Agent(i, str(i), str(i), f"PJSIP/{i}", "active", rnd.choice(st.STATES), skills=skills)


def test_the_same_agents_as_the_acd_serves() -> None:
    acd = ACD(Clock(), cast(Any, None), EventBus())
    for seed in range(30):
        rnd = random.Random(seed)
        agents = [agent(i, rnd) for i in range(1, rnd.randint(1, 40))]
        serving = _Serving(agents)
        for qid in range(1, 8):
            reqs = tuple((s, rnd.randint(0, 5)) for s in rnd.sample(range(1, 7), rnd.randint(0, 3)))
            members = tuple(rnd.sample([a.id for a in agents], min(len(agents), rnd.randint(0, 3))))
            q = queue(qid, reqs, members)
            expected = dict.fromkeys(st.STATES, 0)
            for a in agents:
                if acd.serves(a, q):
                    expected[a.state] += 1
            assert serving.counts(q) == expected, (seed, reqs, members)
