"""Erlang C: how many agents a queue needs for its service level (M/M/N, no abandonment).

The formula the ACD is measured against (tests/integration/test_erlang_c.py), the staffing
rule the demo center is planned with (appliance/demo_center.py), and the Erlang C column of
the staffing and forecast reports (appliance/reports/staffing.py, forecast.py; Erlang A,
with abandonment, is appliance/reports/erlang_a.py).

Erlang C is computed from Erlang B by its recursion B(k) = A B(k-1) / (k + A B(k-1)), whose
terms stay between 0 and 1: the textbook sum of A^k / k! overflows a float past about 170
agents (A^k / k! near 1e308), and a 300-agent center at 290 Erlangs is a normal day.
"""

from __future__ import annotations

import math


def erlang_b(agents: int, load: float) -> float:
    """The probability that a call finds all ``agents`` busy with no queue (M/M/N/N)."""
    if load <= 0:
        return 0.0
    blocked = 1.0
    for k in range(1, agents + 1):
        blocked = load * blocked / (k + load * blocked)
    return blocked


def erlang_c(agents: int, load: float) -> float:
    """The probability that a call waits, with ``load`` Erlangs on ``agents`` agents."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0  # the queue grows without bound
    blocked = erlang_b(agents, load)
    return agents * blocked / (agents - load * (1.0 - blocked))


def service_level(agents: int, load: float, handle_s: float, threshold_s: float) -> float:
    """The share of calls answered within ``threshold_s``: 1 - C(N, A) exp(-(N - A) T / h)."""
    if load <= 0:
        return 1.0
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold_s / handle_s)


def asa(agents: int, load: float, handle_s: float) -> float:
    """The average speed of answer in seconds, over all calls: C(N, A) h / (N - A).

    Infinite when ``agents`` cannot carry the load (the queue grows without bound)."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return math.inf
    return erlang_c(agents, load) * handle_s / (agents - load)


def agents_needed(
    rate_per_s: float, handle_s: float, target: float = 0.8, threshold_s: float = 20.0
) -> int:
    """The fewest agents that answer ``target`` of the calls within ``threshold_s``."""
    load = rate_per_s * handle_s
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, handle_s, threshold_s) < target:
        agents += 1
    return agents
