"""The routing engine: every strategy by example, on both engines, and the two engines
held equal on random workloads."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import _route_c, _route_py
from acd._route_py import (
    FEWEST_CALLS,
    LEAST_TALK,
    LONGEST_IDLE,
    RANDOM,
    RING_ALL,
    ROUND_ROBIN,
    SKILL_BEST,
    STRATEGIES,
    WEIGHTED_RANDOM,
)
from acd.route import IMPLEMENTATION, strategy_code

TECH, BILLING, MANDARIN = 1, 2, 3


def center(acd_route: ModuleType, strategy: int, agents: dict[int, dict[int, int]]) -> Any:
    """Queue 10 needs tech >= 3; every agent available, idle since its id (1 idles longest)."""
    r = acd_route.Router(seed=7)
    for agent_id, skills in agents.items():
        r.add_agent(agent_id)
        for skill, level in skills.items():
            r.set_skill(agent_id, skill, level)
    r.add_queue(10, strategy, [(TECH, 3)])
    for agent_id in agents:
        r.set_available(agent_id, True, agent_id)
    return r


def test_the_kernel_is_built() -> None:
    assert IMPLEMENTATION == "cython"


def test_strategy_names() -> None:
    assert strategy_code("longest_idle") == LONGEST_IDLE
    with pytest.raises(ValueError, match="unknown strategy 'fastest'"):
        strategy_code("fastest")


def test_eligibility_by_skill_level_and_membership(acd_route: ModuleType) -> None:
    r = center(acd_route, LONGEST_IDLE, {1: {TECH: 2}, 2: {TECH: 3}, 3: {BILLING: 9}})
    assert r.candidates(10) == [2]  # 1's level is below the minimum, 3 lacks the skill
    r.set_member(10, 3, 0)  # a direct member, whatever its skills
    assert r.candidates(10) == [2, 3]
    r.set_skill(1, TECH, 5)  # trained up
    assert r.candidates(10) == [1, 2, 3]
    r.set_member(10, 3, -1)
    r.set_skill(2, TECH, 0)
    assert r.candidates(10) == [1]


def test_longest_idle_counts_across_queues(acd_route: ModuleType) -> None:
    r = center(acd_route, LONGEST_IDLE, {1: {TECH: 5}, 2: {TECH: 5}, 3: {TECH: 5}})
    assert r.route(10) == 1
    r.set_available(1, False)
    r.set_available(1, True, 100)  # 1 just finished a call in another queue
    assert r.route(10) == 2
    r.set_available(2, False)
    r.set_available(3, False)
    assert r.route(10) == 1
    r.set_available(1, False)
    assert r.route(10) == -1


def test_fewest_calls_and_least_talk(acd_route: ModuleType) -> None:
    agents = {1: {TECH: 5}, 2: {TECH: 5}, 3: {TECH: 5}}
    r = center(acd_route, FEWEST_CALLS, agents)
    r.record_call(1, 60_000_000)
    r.record_call(2, 10_000_000)
    r.record_call(2, 10_000_000)
    assert r.route(10) == 3
    r.record_call(3, 5_000_000)
    assert r.route(10) == 1  # 1 and 3 have one call each; 1 idles longer
    t = center(acd_route, LEAST_TALK, agents)
    t.record_call(1, 60_000_000)
    t.record_call(2, 10_000_000)
    t.record_call(2, 10_000_000)
    t.record_call(3, 30_000_000)
    assert t.route(10) == 2  # 20 s of talk, the least
    assert t.agent_stats(2) == (True, 2, 2, 20_000_000)


def test_round_robin_remembers_where_it_was(acd_route: ModuleType) -> None:
    r = center(acd_route, ROUND_ROBIN, {1: {TECH: 5}, 2: {TECH: 5}, 3: {TECH: 5}})
    assert [r.route(10) for _ in range(4)] == [1, 2, 3, 1]
    r.set_available(2, False)
    assert [r.route(10) for _ in range(3)] == [3, 1, 3]


def test_ring_all_rings_everyone_best_first(acd_route: ModuleType) -> None:
    r = center(acd_route, RING_ALL, {1: {TECH: 5}, 2: {TECH: 5}, 3: {TECH: 5}})
    r.set_available(1, True, 50)
    assert r.candidates(10) == [2, 3, 1]
    assert r.route(10) == 2


def test_skill_best_match(acd_route: ModuleType) -> None:
    r = center(acd_route, SKILL_BEST, {1: {TECH: 4}, 2: {TECH: 9}, 3: {TECH: 9}})
    assert r.route(10) == 2  # 9 beats 4; 2 and 3 tie on skill, 2 idles longer


def test_random_strategies_only_pick_available_agents_and_spread(acd_route: ModuleType) -> None:
    for strategy in (RANDOM, WEIGHTED_RANDOM):
        r = center(acd_route, strategy, {i: {TECH: 3 + i} for i in range(1, 5)})
        r.set_available(4, False)
        picks = [r.route(10) for _ in range(600)]
        assert set(picks) == {1, 2, 3}
        if strategy == WEIGHTED_RANDOM:  # weights 4, 5, 6 out of 15
            assert picks.count(3) > picks.count(1)


def test_penalty_tiers(acd_route: ModuleType) -> None:
    r = center(acd_route, LONGEST_IDLE, {1: {}, 2: {}, 3: {TECH: 5}})
    r.set_member(10, 1, 2)
    r.set_member(10, 2, 1)
    assert r.route(10) == 3  # skill-based agents have penalty 0
    r.set_available(3, False)
    assert r.route(10) == 2  # then the lower penalty, although 1 idles longer
    assert r.candidates(10) == [2]


def test_waiting_calls_priority_then_arrival_and_place_kept(acd_route: ModuleType) -> None:
    r = center(acd_route, LONGEST_IDLE, {1: {TECH: 5, BILLING: 5}})
    r.add_queue(20, LONGEST_IDLE, [(BILLING, 1)])
    r.enqueue(10, 100, 0, 1)
    r.enqueue(20, 200, 0, 2)
    r.enqueue(10, 101, 0, 3)
    r.enqueue(10, 102, 5, 4)  # a VIP arrives last and goes first
    assert r.waiting(10) == [102, 100, 101]
    assert (r.position(101), r.position(102), r.position(999)) == (3, 1, 0)
    assert r.next_call(1) == 102
    assert r.dequeue(102) and not r.dequeue(102)
    assert r.next_call(1) == 100  # across queues: 100 arrived before 200
    r.dequeue(100)
    r.enqueue(10, 100, 0, 1)  # no answer: back in with its old place
    assert r.waiting(10) == [100, 101]
    assert r.call_queue(200) == 20 and r.call_queue(100) == 10
    with pytest.raises(ValueError, match="already waiting"):
        r.enqueue(20, 100, 0, 9)


def test_an_agent_serving_no_queue_gets_no_call(acd_route: ModuleType) -> None:
    r = center(acd_route, LONGEST_IDLE, {1: {MANDARIN: 9}})
    r.enqueue(10, 100, 0, 1)
    assert r.next_call(1) == -1 and r.route(10) == -1


def test_errors_are_clear(acd_route: ModuleType) -> None:
    r = acd_route.Router()
    r.add_agent(1)
    with pytest.raises(ValueError, match="exists"):
        r.add_agent(1)
    with pytest.raises(KeyError, match="no agent 2"):
        r.set_available(2, True)
    with pytest.raises(KeyError, match="no queue 5"):
        r.route(5)
    with pytest.raises(ValueError, match="0-10"):
        r.set_skill(1, TECH, 11)
    with pytest.raises(ValueError, match="unknown strategy"):
        r.add_queue(5, 99, [])
    with pytest.raises(ValueError, match="1-10"):
        r.add_queue(5, 0, [(TECH, 0)])
    r.remove_agent(1)
    with pytest.raises(KeyError):
        r.route(5)


# ---- the two engines agree --------------------------------------------------------------------

AGENTS = st.integers(1, 12)
QUEUES = st.integers(1, 4)
OPS = st.one_of(
    st.tuples(st.just("skill"), AGENTS, st.integers(1, 4), st.integers(0, 10)),
    st.tuples(st.just("avail"), AGENTS, st.booleans(), st.integers(-1, 50)),
    st.tuples(st.just("call"), AGENTS, st.integers(0, 100_000_000)),
    st.tuples(st.just("member"), QUEUES, AGENTS, st.integers(-1, 3)),
    st.tuples(
        st.just("enqueue"), QUEUES, st.integers(1, 30), st.integers(0, 3), st.integers(1, 40)
    ),
    st.tuples(st.just("dequeue"), st.integers(1, 30)),
    st.tuples(st.just("route"), QUEUES),
    st.tuples(st.just("candidates"), QUEUES),
    st.tuples(st.just("next"), AGENTS),
    st.tuples(st.just("remove"), AGENTS),
    st.tuples(st.just("add"), AGENTS),
)


def apply(r: Any, op: tuple[Any, ...]) -> Any:
    kind, *args = op
    try:
        if kind == "skill":
            return r.set_skill(*args)
        if kind == "avail":
            return r.set_available(*args)
        if kind == "call":
            return r.record_call(*args)
        if kind == "member":
            return r.set_member(*args)
        if kind == "enqueue":
            return r.enqueue(*args)
        if kind == "dequeue":
            return r.dequeue(*args)
        if kind == "route":
            return r.route(*args)
        if kind == "candidates":
            return r.candidates(*args)
        if kind == "next":
            return r.next_call(*args)
        if kind == "remove":
            return r.remove_agent(*args)
        if kind == "add":
            return r.add_agent(*args)
    except (KeyError, ValueError) as exc:
        return type(exc).__name__
    raise AssertionError(kind)


AGENT_SETUP = st.tuples(
    st.dictionaries(st.integers(1, 4), st.integers(1, 10), max_size=4),  # skills
    st.booleans(),  # available
    st.integers(0, 20),  # idle since (small: ties happen)
    st.integers(0, 3),  # calls handled
    st.sampled_from([0, 10, 20]),  # talk time
)


@settings(max_examples=400, deadline=None)
@given(
    strategies=st.lists(st.integers(0, len(STRATEGIES) - 1), min_size=4, max_size=4),
    requirements=st.lists(
        st.dictionaries(st.integers(1, 4), st.integers(1, 6), max_size=2),
        min_size=4,
        max_size=4,
    ),
    agents=st.lists(AGENT_SETUP, min_size=8, max_size=8),
    members=st.lists(st.tuples(QUEUES, st.integers(1, 8), st.integers(0, 2)), max_size=6),
    ops=st.lists(OPS, max_size=80),
)
def test_cython_and_python_engines_decide_the_same(
    strategies: list[int],
    requirements: list[dict[int, int]],
    agents: list[tuple[dict[int, int], bool, int, int, int]],
    members: list[tuple[int, int, int]],
    ops: list[tuple[Any, ...]],
) -> None:
    engines = [_route_py.Router(seed=3), _route_c.Router(seed=3)]
    for r in engines:
        for agent_id, (skills, available, idle, calls, talk) in enumerate(agents, 1):
            r.add_agent(agent_id)
            for skill, level in skills.items():
                r.set_skill(agent_id, skill, level)
            r.set_available(agent_id, available, idle)
            for _ in range(calls):
                r.record_call(agent_id, talk)
        for q, (strategy, reqs) in enumerate(zip(strategies, requirements, strict=True), 1):
            r.add_queue(q, strategy, list(reqs.items()))
        for q, agent_id, penalty in members:
            r.set_member(q, agent_id, penalty)
    decisions = [("route", q) for q in range(1, 5)] + [("next", a) for a in range(1, 9)]
    for op in [*decisions, *ops, *decisions]:
        results = [apply(r, op) for r in engines]
        assert results[0] == results[1], op
    for q in range(1, 5):
        assert engines[0].waiting(q) == engines[1].waiting(q)
        assert engines[0].candidates(q) == engines[1].candidates(q)
