"""Erlang C: how many agents a queue needs for its service level (M/M/N, no abandonment).

The formula the ACD is measured against (tests/integration/test_erlang_c.py), and the
staffing rule the demo center is planned with (appliance/demo.py).
"""

from __future__ import annotations

import math


def erlang_c(agents: int, load: float) -> float:
    """The probability that a call waits, with ``load`` Erlangs on ``agents`` agents."""
    if load <= 0:
        return 0.0
    if agents <= load:
        return 1.0  # the queue grows without bound
    term, total = 1.0, 1.0
    for k in range(1, agents):
        term *= load / k
        total += term
    top = term * load / agents * agents / (agents - load)
    return top / (total + top)


def service_level(agents: int, load: float, handle_s: float, threshold_s: float) -> float:
    """The share of calls answered within ``threshold_s``: 1 - C(N, A) exp(-(N - A) T / h)."""
    if agents <= load:
        return 0.0
    return 1.0 - erlang_c(agents, load) * math.exp(-(agents - load) * threshold_s / handle_s)


def agents_needed(
    rate_per_s: float, handle_s: float, target: float = 0.8, threshold_s: float = 20.0
) -> int:
    """The fewest agents that answer ``target`` of the calls within ``threshold_s``."""
    load = rate_per_s * handle_s
    agents = max(1, math.floor(load) + 1)
    while service_level(agents, load, handle_s, threshold_s) < target:
        agents += 1
    return agents
