"""The ACD against queueing theory: Poisson arrivals, exponential talk times, N agents and
no abandonment form an M/M/N queue, whose service level Erlang C predicts:

    SL(T) = 1 - C(N, A) * exp(-(N - A) * T / h)

where A = arrival rate x mean talk time h. The whole center runs in virtual time
(tests/support/virtual_call_center.py): FastAGI sessions, hold music, the ACD's offers and
the switch simulator's phones, with the production code between them.

The prediction uses the load the run actually drew (arrivals over the span, the mean of the
talk times): at 70% occupancy that alone moves the prediction by up to 0.05 between seeds.
What remains is the noise of a mean over correlated waits: across seeds, 3,000 calls (the
first 300 dropped as warm-up) land within about 0.05 of the prediction, which is the
tolerance. The seed is fixed, so the test is reproducible. An ACD that left one of the
eight agents idle while callers wait would measure about 0.7 instead of 0.88.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.cli import resolved
from appliance.db.connector import DBConnector
from tests.support.inline_db import inline_db
from tests.support.virtual_call_center import VirtualCenter, erlang_c, service_level

AGENTS = 8
MEAN_TALK_S = 60.0
THRESHOLD_S = 20
CALLS = 3000
WARM_UP = 300
TOLERANCE = 0.06
OCCUPANCY = 0.7


@pytest.fixture
def db(tmp_path: Path) -> Iterator[DBConnector]:
    with inline_db(tmp_path / "erlang.sqlite") as connector:
        yield connector


def seed(db: DBConnector) -> tuple[int, list[int]]:
    tech = resolved(db.skills.add("tech")).id
    agents = []
    for i in range(AGENTS):
        agent = resolved(db.agents.add(f"{1001 + i}", f"Agent {i}", "", f"PJSIP/{1001 + i}"))
        resolved(db.agents.set_skill(agent.id, tech, 5))
        agents.append(agent.id)
    queue = resolved(
        db.queues.add(
            "support",
            skills={tech: 1},
            service_level_s=THRESHOLD_S,
            wrapup_s=0,
            max_wait_s=0,
            announce_every_s=0,
            auto_pause_misses=0,
        )
    )
    return queue.id, agents


def test_erlang_c_formula_against_a_published_value() -> None:
    # The textbook example (e.g. Koole, Call Center Optimization): 10 Erlangs on 12 agents
    # waits with probability 0.4493 (to 4 places).
    assert erlang_c(12, 10.0) == pytest.approx(0.4493, abs=1e-4)


def test_measured_service_level_matches_erlang_c(db: DBConnector) -> None:
    queue_id, agents = seed(db)
    center = VirtualCenter(db, queue_id, agents, seed=1)
    nominal = AGENTS * OCCUPANCY
    result = center.run(CALLS, rate_per_s=nominal / MEAN_TALK_S, mean_talk_s=MEAN_TALK_S)
    assert result.abandoned == 0 and len(result.waits) == CALLS
    # Hours of calls leave no agent ringing past its ring time or holding a call that
    # ended (acd/invariants.py), and nobody needed freeing.
    assert center.acd.violations() == [] and center.acd.released == 0
    assert {a.state for a in center.acd.agents.values()} <= {"available", "wrap_up"}
    stats = center.acd.stats[queue_id]
    talk = stats.talk_s / stats.answered
    load = (CALLS - 1) / (result.last_arrival - result.first_arrival) * talk
    assert load == pytest.approx(nominal, rel=0.1)  # the draw is near what was asked
    waits = result.waits[WARM_UP:]
    measured = sum(1 for w in waits if w <= THRESHOLD_S) / len(waits)
    predicted = service_level(AGENTS, load, talk, THRESHOLD_S)
    assert measured == pytest.approx(predicted, abs=TOLERANCE), (measured, predicted)
    # The share of callers who waited at all is Erlang C itself (an offer takes no time).
    waited = sum(1 for w in waits if w > 0) / len(waits)
    assert waited == pytest.approx(erlang_c(AGENTS, load), abs=TOLERANCE), waited
    # The ACD's own live statistic agrees with the waits measured here.
    assert stats.service_level == pytest.approx(
        sum(1 for w in result.waits if w <= THRESHOLD_S) / CALLS, abs=1e-9
    )
