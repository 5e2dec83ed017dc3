"""The channels' router on random days: logins, pauses, calls starting and ending, chats
arriving, accepted, let go and ended, run on the Cython kernel and on the Python twin side
by side. Both make the same decisions, and the rules hold after every step: no agent over
its capacity, nobody offered a chat who may not take one (away, full, or on a call without
chat_on_call), every line in priority-then-arrival order, and the engine's availability
equal to the capacity rules'."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

from acd import _route_c, _route_py
from acd import agent_state as st
from acd.channels import capacity
from acd.channels.router import AgentSlots, ChannelRouter, RouteOffer
from appliance.db.acd_store import ACDQueue

TECH, BILLING = 1, 2
STRATEGIES = ("longest_idle", "fewest_calls", "round_robin", "ring_all", "random", "skill_best")
AGENTS = range(1, 7)


def queue(
    qid: int,
    strategy: str,
    needs: tuple[tuple[int, int], ...],
    members: tuple[tuple[int, int], ...] = (),
) -> ACDQueue:
    return ACDQueue(
        qid,
        f"q{qid}",
        f"Queue {qid}",
        strategy,
        30,
        0,
        0,
        15,
        0,
        None,
        0,
        needs,
        members,
        media="chat",
    )


@dataclass
class Day:
    """One router and what the test knows it decided."""

    router: ChannelRouter
    offered: dict[int, set[int]] = field(default_factory=dict)  # conversation -> agents
    active: dict[int, int] = field(default_factory=dict)  # conversation -> agent
    decisions: list[tuple[int, int, tuple[int, ...]]] = field(default_factory=list)
    lines: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # (queue, prio, seq)


def build(
    module: ModuleType,
    strategies: tuple[str, str],
    agents: list[tuple[int, int, int, bool]],
    clock: Callable[[], int],
) -> Day:
    router = ChannelRouter(clock, module)
    queues = [
        queue(10, strategies[0], ((TECH, 3),)),
        queue(20, strategies[1], ((BILLING, 1),), members=((1, 0), (2, 1))),
    ]
    slots = [
        AgentSlots(a, skills={TECH: tech, BILLING: billing}, max_chats=cap, chat_on_call=on_call)
        for a, (tech, billing, cap, on_call) in zip(AGENTS, agents, strict=True)
    ]
    router.configure(queues, slots)
    return Day(router)


# Arrivals, logins and calls come more often than the rest (one_of picks a branch evenly).
ARRIVE = st_.tuples(st_.just("arrive"), st_.sampled_from((10, 20)), st_.integers(0, 2))
OPS = st_.one_of(
    ARRIVE,
    ARRIVE,
    ARRIVE,
    st_.tuples(st_.just("call"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("call"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("login"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("logout"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("pause"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("call"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("call_over"), st_.sampled_from(AGENTS)),
    st_.tuples(st_.just("accept"), st_.integers(0, 50)),
    st_.tuples(st_.just("let_go"), st_.integers(0, 50)),
    st_.tuples(st_.just("end"), st_.integers(0, 50)),
)

AGENT_SPECS = st_.lists(
    st_.tuples(st_.integers(0, 6), st_.integers(0, 3), st_.integers(0, 4), st_.booleans()),
    min_size=len(AGENTS),
    max_size=len(AGENTS),
)


def step(day: Day, op: tuple[Any, ...], seq: int) -> None:
    r = day.router
    kind = op[0]
    made: list[RouteOffer] = []
    if kind in ("login", "logout", "pause", "call", "call_over"):
        a = r.agents[op[1]]
        new = {
            "login": st.AVAILABLE if a.state in capacity.AWAY_STATES else a.state,
            "logout": st.LOGGED_OUT,
            "pause": st.PAUSED,
            "call": st.ON_CALL if a.state not in capacity.AWAY_STATES else a.state,
            "call_over": st.AVAILABLE if a.state in capacity.CALL_STATES else a.state,
        }[kind]
        r.set_state(a.id, new)
        if new in capacity.AWAY_STATES:  # offers withdrawn, chats back in line
            for cid, agents in list(day.offered.items()):
                if a.id in agents:
                    agents.discard(a.id)
                    r.release(a.id, cid)
                    if not agents:
                        del day.offered[cid]
                        r.enqueue(cid, *_where(day, cid))
            for cid, agent_id in list(day.active.items()):
                if agent_id == a.id and new == st.LOGGED_OUT:
                    del day.active[cid]
                    r.release(a.id, cid)
                    r.enqueue(cid, *_where(day, cid))
        made = r.dispatch()
    elif kind == "arrive":
        day.lines[seq] = (op[1], op[2], seq)
        r.enqueue(seq, op[1], op[2], seq)
        made = r.dispatch()
    elif kind in ("accept", "let_go", "end"):
        pool = sorted(day.active if kind == "end" else day.offered)
        if not pool:
            return
        cid = pool[op[1] % len(pool)]
        if kind == "accept":
            rung = sorted(day.offered.pop(cid))
            winner = rung[op[1] % len(rung)]
            for other in rung:
                if other != winner:
                    r.release(other, cid)
            day.active[cid] = winner
            made = r.dispatch()
        elif kind == "let_go":
            missed = sorted(day.offered.pop(cid))
            for agent_id in missed:
                r.release(agent_id, cid)
            r.enqueue(cid, *_where(day, cid))
            made = r.dispatch(exclude=missed)
        else:
            r.release(day.active.pop(cid), cid, talk_us=op[1] * 1000)
            made = r.dispatch()
    for offer in made:
        day.offered[offer.conversation_id] = set(offer.agents)
        day.decisions.append((offer.conversation_id, offer.queue_id, offer.agents))


def _where(day: Day, cid: int) -> tuple[int, int, int]:
    return day.lines[cid]


def check(day: Day, before_states: dict[int, tuple[str, int]], made_from: int) -> None:
    r = day.router
    assert r.violations == 0
    for a in r.agents.values():
        assert a.open <= max(a.max_chats, 0), (a.id, a.open, a.max_chats)
        assert a.available == a.may_take()
        assert bool(r.engine.agent_stats(a.id)[0]) == a.may_take()
    for qid in r.queues:
        line = r.waiting(qid)
        assert line == list(r.engine.waiting(qid))
        keys = [(-r.where[c][1], r.where[c][2]) for c in line]
        assert keys == sorted(keys)
    # Everyone offered something in this step could take it: not away, not on a call
    # without chat_on_call (the state did not change within the step's dispatch).
    for cid, _qid, agents in day.decisions[made_from:]:
        for agent_id in agents:
            a = r.agents[agent_id]
            assert a.state not in capacity.AWAY_STATES
            assert a.chat_on_call or not capacity.on_call(a.state)
            assert cid in a.held


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    strategies=st_.tuples(st_.sampled_from(STRATEGIES), st_.sampled_from(STRATEGIES)),
    agents=AGENT_SPECS,
    ops=st_.lists(OPS, min_size=1, max_size=80),
)
def test_both_engines_decide_alike_and_the_rules_hold(
    strategies: tuple[str, str],
    agents: list[tuple[int, int, int, bool]],
    ops: list[tuple[Any, ...]],
) -> None:
    ticks = itertools.count(1_000_000, 1_000)
    now = [0]

    def clock() -> int:
        return now[0]

    days = [build(m, strategies, agents, clock) for m in (_route_c, _route_py)]
    for day in days:  # the day starts with everyone logged in
        for agent_id in AGENTS:
            day.router.set_state(agent_id, st.AVAILABLE)
    for seq, op in enumerate(ops, start=1):
        now[0] = next(ticks)
        for day in days:
            before = {a.id: (a.state, a.open) for a in day.router.agents.values()}
            made_from = len(day.decisions)
            step(day, op, seq)
            check(day, before, made_from)
        c, p = days
        assert c.decisions == p.decisions
        assert c.offered == p.offered and c.active == p.active
        for qid in c.router.queues:
            assert c.router.waiting(qid) == p.router.waiting(qid)


def test_an_agent_on_a_call_gets_a_chat_only_with_chat_on_call(acd_route: ModuleType) -> None:
    r = ChannelRouter(lambda: 1, acd_route)
    r.configure(
        [queue(10, "longest_idle", ((TECH, 3),))],
        [
            AgentSlots(1, {TECH: 5}, max_chats=2),
            AgentSlots(2, {TECH: 5}, max_chats=2, chat_on_call=True),
        ],
    )
    for a in (1, 2):
        r.set_state(a, st.ON_CALL)
    r.enqueue(100, 10, 0, 100)
    r.enqueue(101, 10, 0, 101)
    r.enqueue(102, 10, 0, 102)
    made = r.dispatch()
    assert [(o.conversation_id, o.agents) for o in made] == [(100, (2,)), (101, (2,))]
    assert r.waiting(10) == [102]  # agent 2 is full, agent 1 on a call
    r.set_state(1, st.AVAILABLE)
    assert [(o.conversation_id, o.agents) for o in r.dispatch()] == [(102, (1,))]


def test_priority_then_arrival_across_queues(acd_route: ModuleType) -> None:
    r = ChannelRouter(lambda: 1, acd_route)
    r.configure(
        [queue(10, "longest_idle", ((TECH, 1),)), queue(20, "longest_idle", ((TECH, 1),))],
        [AgentSlots(1, {TECH: 5}, max_chats=1)],
    )
    r.enqueue(1, 10, 0, 1)
    r.enqueue(2, 20, 5, 2)  # a VIP who came later
    r.enqueue(3, 20, 0, 3)
    r.set_state(1, st.AVAILABLE)
    assert [o.conversation_id for o in r.dispatch()] == [2]
    r.release(1, 2)
    assert [o.conversation_id for o in r.dispatch()] == [1]
