"""Erlang C (acd/erlang.py) against the textbook values of issue 17 and exact arithmetic.

10 Erlangs (a call every 18 s, 180 s handle time), 20 s threshold: the values every Erlang C
table and calculator gives (e.g. the CRAN ErlangC package's README: 14 agents wait with
probability 0.1741319, answer 88.835% within 20 s, ASA 7.836 s).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from acd.erlang import agents_needed, asa, erlang_b, erlang_c, service_level

LOAD = 10.0
HANDLE_S = 180.0
THRESHOLD_S = 20.0


@pytest.mark.parametrize(
    ("agents", "wait", "sl", "asa_s"),
    [(13, 0.2853, 0.7956, 17.1), (14, 0.1741, 0.8884, 7.8)],
)
def test_textbook_values(agents: int, wait: float, sl: float, asa_s: float) -> None:
    assert erlang_c(agents, LOAD) == pytest.approx(wait, abs=5e-5)
    assert service_level(agents, LOAD, HANDLE_S, THRESHOLD_S) == pytest.approx(sl, abs=5e-5)
    assert asa(agents, LOAD, HANDLE_S) == pytest.approx(asa_s, abs=0.05)


def test_80_percent_in_20_s_needs_14_agents() -> None:
    # 13 agents answer 79.56%: one short of the target
    assert agents_needed(LOAD / HANDLE_S, HANDLE_S, 0.8, THRESHOLD_S) == 14


def exact_erlang_c(agents: int, load: Fraction) -> Fraction:
    """The textbook sum, in exact rationals: no float to overflow."""
    term, total = Fraction(1), Fraction(1)
    for k in range(1, agents):
        term *= load / k
        total += term
    top = term * load / agents * agents / (agents - load)
    return top / (total + top)


@pytest.mark.parametrize(("agents", "load"), [(300, 290), (180, 150), (1000, 985)])
def test_large_centers_match_exact_arithmetic(agents: int, load: int) -> None:
    # A^k / k! passes 1e308 beyond 170 Erlangs or so: the recursion on Erlang B stays in (0, 1)
    got = erlang_c(agents, float(load))
    assert math.isfinite(got)
    assert got == pytest.approx(float(exact_erlang_c(agents, Fraction(load))), rel=1e-9)


def test_limits() -> None:
    assert erlang_c(5, 0.0) == 0.0 and service_level(5, 0.0, HANDLE_S, 20) == 1.0
    assert erlang_c(10, 10.0) == 1.0 and service_level(10, 10.0, HANDLE_S, 20) == 0.0
    assert asa(10, 12.0, HANDLE_S) == math.inf
    assert erlang_b(1, 1.0) == pytest.approx(0.5)  # one line, one Erlang: blocked half the time
