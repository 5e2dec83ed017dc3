"""Erlang A (appliance/reports/erlang_a.py) against published values and its limits."""

from __future__ import annotations

import math
import random

import pytest

from acd import erlang
from appliance.reports.erlang_a import agents_needed_a, erlang_a, service_level_a


def test_published_example() -> None:
    # pyworkforce's Erlang A guide (https://pyworkforce.rodrigo-arenas.com/stable/guide/erlanga):
    # 100 calls in 30 minutes, 3 min handle time, 5 min mean patience, a 20 s target, 13
    # positions: service level 0.858..., abandonment 0.025..., waiting 0.226..., average
    # wait 0.125... min over all callers. It computes them from the birth-death chain and a
    # uniformized tagged-caller chain, a different route from the series used here.
    got = erlang_a(13, 100 / 1800, 180.0, 300.0, 20.0)
    assert got.service_level == pytest.approx(0.858, abs=5e-4)
    assert got.abandon == pytest.approx(0.025, abs=5e-4)
    assert got.wait == pytest.approx(0.226, abs=5e-4)
    assert got.mean_wait_s / 60 == pytest.approx(0.125, abs=5e-4)
    # the same example with Erlang C needs 14 (79.56% with 13); the patience saves one
    assert agents_needed_a(100 / 1800, 180.0, 300.0, 0.8, 20.0) == 13
    assert agents_needed_a(100 / 1800, 180.0, 300.0, 0.8, 20.0) < erlang.agents_needed(
        100 / 1800, 180.0, 0.8, 20.0
    )


def test_infinite_patience_is_erlang_c() -> None:
    for agents in (13, 14):
        # the series' limit: 1.7e6 s of patience is 9,400 handle times
        near = erlang_a(agents, 10 / 180, 180.0, 1.7e6, 20.0)
        assert near.wait == pytest.approx(erlang.erlang_c(agents, 10.0), abs=1e-4)
        assert near.service_level == pytest.approx(
            erlang.service_level(agents, 10.0, 180.0, 20.0), abs=1e-4
        )
        assert near.asa_s == pytest.approx(erlang.asa(agents, 10.0, 180.0), rel=1e-3)
        assert 0 < near.abandon < 1e-4
        for patience in (math.inf, 1e12):  # beyond 10,000 handle times: Erlang C itself
            got = erlang_a(agents, 10 / 180, 180.0, patience, 20.0)
            assert (got.wait, got.abandon) == (erlang.erlang_c(agents, 10.0), 0.0)


def test_zero_load_and_no_agents() -> None:
    idle = erlang_a(3, 0.0, 180.0, 60.0, 20.0)
    assert (idle.wait, idle.abandon, idle.service_level, idle.asa_s) == (0.0, 0.0, 1.0, 0.0)
    assert agents_needed_a(0.0, 180.0, 60.0) == 0
    nobody = erlang_a(0, 0.1, 180.0, 60.0, 20.0)
    assert nobody.abandon == pytest.approx(1.0) and nobody.service_level == 0.0
    assert nobody.mean_wait_s == pytest.approx(60.0)  # each waits out their patience


def test_a_large_center_is_finite_and_consistent() -> None:
    # 300 agents, 290 Erlangs, 2 min patience; and overloaded at 600 Erlangs
    for load in (290.0, 600.0):
        got = erlang_a(300, load / 180, 180.0, 120.0, 20.0)
        values = (got.wait, got.abandon, got.service_level, got.asa_s, got.mean_wait_s)
        assert all(math.isfinite(v) for v in values), values
        assert 0 <= got.service_level <= 1 - got.abandon + 1e-12
    # overloaded twice over: half the callers must leave (carried load = 300 Erlangs)
    assert erlang_a(300, 600 / 180, 180.0, 120.0, 20.0).abandon == pytest.approx(0.5, abs=1e-3)
    assert agents_needed_a(290 / 180, 180.0, 120.0) < erlang.agents_needed(290 / 180, 180.0)


def simulate(
    agents: int, rate: float, handle: float, patience: float, calls: int
) -> tuple[float, float, float]:
    """A first-come first-served queue whose callers hang up after their patience."""
    rng = random.Random(7)
    free = [0.0] * agents
    now, within, abandoned, answered_wait, answered = 0.0, 0, 0, 0.0, 0
    for _ in range(calls):
        now += rng.expovariate(rate)
        patience_s = rng.expovariate(1 / patience)
        first = min(range(agents), key=free.__getitem__)
        start = max(now, free[first])
        if start - now > patience_s:
            abandoned += 1
            continue
        within += start - now <= 20.0
        answered_wait += start - now
        answered += 1
        free[first] = start + rng.expovariate(1 / handle)
    return within / calls, abandoned / calls, answered_wait / answered


def test_a_simulated_queue_agrees() -> None:
    # 5 agents, 3 Erlangs, 60 s patience: the service level, abandons and ASA of answered
    # calls (the series' quantities) against 60,000 simulated callers
    sl, abandon, asa_s = simulate(5, 3 / 180, 180.0, 60.0, 60_000)
    got = erlang_a(5, 3 / 180, 180.0, 60.0, 20.0)
    assert got.service_level == pytest.approx(sl, abs=0.01)
    assert got.abandon == pytest.approx(abandon, abs=0.01)
    assert got.asa_s == pytest.approx(asa_s, abs=0.4)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        erlang_a(-1, 0.1, 180.0, 60.0, 20.0)
    with pytest.raises(ValueError):
        erlang_a(3, 0.1, 180.0, 0.0, 20.0)
    with pytest.raises(ValueError):
        agents_needed_a(0.1, 180.0, 60.0, target=1.0)


def test_agents_needed_is_the_fewest_that_meet_the_target() -> None:
    rng = random.Random(3)
    for _ in range(60):
        load = rng.choice([0.05, 0.5, 2, 10, 40, 150, 290]) * rng.uniform(0.8, 1.2)
        handle = rng.uniform(60, 600)
        patience = rng.choice([5, 30, 120, 600, 3600])
        threshold = rng.choice([0, 10, 20, 60])
        target = rng.choice([0.5, 0.8, 0.9, 0.95])
        rate = load / handle
        n = agents_needed_a(rate, handle, patience, target, threshold)
        case = (load, handle, patience, threshold, target, n)
        assert erlang_a(n, rate, handle, patience, threshold).service_level >= target, case
        assert n == 0 or service_level_a(n - 1, rate, handle, patience, threshold) < target, case


def test_a_long_threshold_with_impatient_callers() -> None:
    # y e^{-θT} below the smallest float (a 1 s patience, the estimator's floor, and an
    # 800 s threshold; a queue's may be up to 3600 s): finite, and every answered caller
    # is answered within it, so the service level is the share that did not abandon
    got = erlang_a(5, 0.01, 180.0, 1.0, 800.0)
    assert got.service_level == pytest.approx(1 - got.abandon, abs=1e-12)
    assert got.service_level == pytest.approx(
        erlang_a(5, 0.01, 180.0, 1.0, 700.0).service_level, abs=1e-12
    )
    assert agents_needed_a(0.5, 180.0, 1.0, 0.8, 3600.0) > 0
