"""Erlang A (Palm's M/M/N+M queue): Erlang C with callers who hang up.

Each caller has an exponentially distributed patience (mean ``patience_s``) and abandons
when the wait outlasts it. This is the model of Garnett, Mandelbaum & Reiman (2002),
"Designing a call center with impatient customers", with the performance measures of
Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with applications to call centers".
Unlike Erlang C it is stable at any load, and it staffs fewer agents for the same target
because the callers who give up shorten the wait of the others.

It lives beside the reports that use it (staffing, forecast), not in ``acd/``: the ACD routes
calls and never plans staff; Erlang C stays in ``acd/erlang.py``, where the ACD's own
measurement test and the demo's roster use it.

How it is computed (numerically stable for hundreds of agents and loads, no SciPy):

- States: ``k`` calls in the system. With λ arrivals/s, μ = 1/handle, θ = 1/patience,
  N agents, the stationary weights are ``a^k / k!`` up to N (a = λ/μ, the load) and then
  each further caller multiplies by ``λ / (Nμ + jθ)`` (j callers waiting). Every weight is
  kept as a logarithm and normalized with log-sum-exp, so nothing overflows.
- A caller who finds ``j`` callers waiting ahead is answered with probability
  ``m / (m + j + 1)`` where ``m = Nμ/θ``, and waits, if answered, on average
  ``(1/θ) · Σ_{i=0..j} 1/(m + i + 1)`` weighted the same way (the ahead-queue empties at
  rates ``θ(m + i)``; the caller's own patience is an independent clock). Sums over the
  states give P(wait), P(abandon) and the ASA of answered calls exactly.
- The service level within T needs the wait's distribution: given a wait, the offered wait
  V has P(V > t) = P(m, y e^{-θt}) / P(m, y), with y = λ/θ and P the regularized lower
  incomplete gamma function (Mandelbaum & Zeltyn). The share answered within T is then
  ``(m/y) [P(m+1, y) - P(m+1, y e^{-θT})] / P(m, y)`` of those who wait. P is evaluated
  through its power series ``Σ z^k / ((m+1)...(m+k))``, the same kind of sum as the
  states', in logarithms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from acd import erlang

# Terms this far (in natural log) below the largest are below a float's resolution.
_NEGLIGIBLE = 45.0


# Callers this much more patient than a call is long are Erlang C's (their abandons change
# the figures by about 1e-5); the series would need ~10 sqrt(N x patience / handle) terms.
_PATIENT = 1e4


def _patient(patience_s: float, handle_s: float) -> bool:
    return math.isinf(patience_s) or patience_s > _PATIENT * handle_s


@dataclass(frozen=True)
class ErlangA:
    """What a half hour with ``agents`` agents looks like under Erlang A.

    ``service_level`` is the share of ALL offered calls answered within the threshold
    (callers who hang up count against it, early or late); ``asa_s`` averages the waits of
    answered calls only; ``mean_wait_s`` those of every caller (answered or abandoned)."""

    agents: int
    wait: float
    abandon: float
    service_level: float
    asa_s: float
    mean_wait_s: float


def _logsumexp(values: np.ndarray) -> float:
    top = float(values.max())
    return top + math.log(float(np.exp(values - top).sum()))


def _series_terms(m: float, z: float) -> int:
    """How many terms ``z^k / ((m+1)...(m+k))`` matter: past the peak at k = z - m they
    fall like a Gaussian of width about sqrt(max(z, m)) (geometrically when z < m)."""
    return int(max(0.0, z - m) + 10.0 * math.sqrt(max(z, m, 1.0)) + 60)


def _log_series(m: float, log_z: float) -> float:
    """log Σ_{k≥0} z^k / ((m+1)(m+2)...(m+k)), from log z (z itself may be below the
    smallest float: y e^{-θT} for a long threshold and impatient callers); m >= 0."""
    k = np.arange(1, _series_terms(m, math.exp(log_z)) + 1, dtype=float)
    logs = np.concatenate(([0.0], np.cumsum(log_z - np.log(m + k))))
    return _logsumexp(logs)


def _answered_within_share(m: float, y: float, theta_t: float, s_m: float) -> float:
    """Of the callers who wait, the share answered within T (θT = ``theta_t``):
    (m/y) [P(m+1, y) - P(m+1, z)] / P(m, y) with z = y e^{-θT}, where
    P(a, x) = x^a e^{-x} S(a, x) / Γ(a+1), S the series of ``_log_series`` and ``s_m`` the
    log of S(m, y)."""
    z = y * math.exp(-theta_t)  # 0.0 once θT passes ~745: its terms are 0 then too
    s_y = _log_series(m + 1, math.log(y))
    s_z = _log_series(m + 1, math.log(y) - theta_t)
    # (m/(m+1)) [S(m+1,y) - (z/y)^{m+1} e^{y-z} S(m+1,z)] / S(m,y), each term as exp(log)
    first = math.exp(s_y - s_m)
    second = math.exp((m + 1) * (-theta_t) + (y - z) + s_z - s_m)
    return max(0.0, m / (m + 1) * (first - second))


def _waiting(agents: int, load: float, m: float, y: float) -> tuple[np.ndarray, float]:
    """P(an arrival finds all agents busy and j = 0, 1, ... callers waiting), and log S(m, y).

    The weights of states 0..N are a^k / k!, then each waiting caller multiplies by
    y / (m + j); all in logarithms, normalized by log-sum-exp."""
    k = np.arange(1, agents + 1, dtype=float)
    log_low = np.concatenate(([0.0], np.cumsum(math.log(load) - np.log(k))))
    j = np.arange(1, _series_terms(m, y) + 1, dtype=float)
    log_series = np.concatenate(([0.0], np.cumsum(math.log(y) - np.log(m + j))))
    s_m = _logsumexp(log_series)
    log_queue = log_low[-1] + log_series
    total = _logsumexp(np.concatenate((log_low[:-1], [log_low[-1] + s_m])))
    return np.exp(log_queue - total), s_m


def erlang_a(
    agents: int, rate_per_s: float, handle_s: float, patience_s: float, threshold_s: float
) -> ErlangA:
    """Erlang A's measures for ``agents`` agents, ``rate_per_s`` calls offered per second,
    a mean handle time and a mean patience in seconds, and a service level threshold.

    An infinite patience (or one over 10,000 handle times) is Erlang C (``acd.erlang``)."""
    if agents < 0 or handle_s <= 0 or patience_s <= 0 or threshold_s < 0 or rate_per_s < 0:
        raise ValueError("erlang_a: agents, rate and threshold >= 0; handle, patience > 0")
    load = rate_per_s * handle_s
    if rate_per_s == 0:
        return ErlangA(agents, 0.0, 0.0, 1.0, 0.0, 0.0)
    if _patient(patience_s, handle_s):
        mean = erlang.asa(agents, load, handle_s)
        return ErlangA(
            agents,
            erlang.erlang_c(agents, load),
            0.0,
            erlang.service_level(agents, load, handle_s, threshold_s),
            mean,
            mean,
        )
    theta = 1.0 / patience_s
    m = agents * patience_s / handle_s  # Nμ/θ
    y = rate_per_s * patience_s  # λ/θ
    waiting, s_m = _waiting(agents, load, m, y)
    wait = float(waiting.sum())
    ahead = np.arange(waiting.size, dtype=float)
    answered_if = m / (m + ahead + 1.0)
    abandon = float((waiting * (1.0 - answered_if)).sum())
    answered = 1.0 - abandon
    # mean wait of an answered caller with j ahead: (1/θ) Σ_{i=0..j} 1/(m+i+1)
    harmonic = np.cumsum(1.0 / (m + ahead + 1.0))
    answered_wait = float((waiting * answered_if * harmonic).sum()) / theta
    asa_s = answered_wait / answered if answered > 0 else math.inf
    within = _within(agents, wait, m, y, theta * threshold_s, s_m)
    return ErlangA(
        agents,
        min(1.0, wait),
        min(1.0, abandon),
        within,
        asa_s,
        abandon / theta,
    )


def _within(agents: int, wait: float, m: float, y: float, theta_t: float, s_m: float) -> float:
    if agents == 0:
        return 0.0
    share = _answered_within_share(m, y, theta_t, s_m)
    return min(1.0, max(0.0, (1.0 - wait) + wait * share))


def service_level_a(
    agents: int, rate_per_s: float, handle_s: float, patience_s: float, threshold_s: float
) -> float:
    """``erlang_a(...).service_level`` alone (what staffing searches on), without the ASA."""
    if rate_per_s <= 0:
        return 1.0
    if _patient(patience_s, handle_s):
        return erlang.service_level(agents, rate_per_s * handle_s, handle_s, threshold_s)
    m = agents * patience_s / handle_s
    y = rate_per_s * patience_s
    waiting, s_m = _waiting(agents, rate_per_s * handle_s, m, y)
    return _within(agents, float(waiting.sum()), m, y, threshold_s / patience_s, s_m)


def agents_needed_a(
    rate_per_s: float,
    handle_s: float,
    patience_s: float,
    target: float = 0.8,
    threshold_s: float = 20.0,
) -> int:
    """The fewest agents that answer ``target`` of the offered calls within ``threshold_s``
    (abandoned calls count as missed). The service level grows with the agents; the search
    starts at Erlang C's answer (callers who hang up rarely make more agents necessary),
    gallops away from it until the target flips, then bisects."""
    if not 0 < target < 1:
        raise ValueError("agents_needed_a: the target is a share between 0 and 1")
    if rate_per_s <= 0:
        return 0

    def meets(n: int) -> bool:
        return service_level_a(n, rate_per_s, handle_s, patience_s, threshold_s) >= target

    start = erlang.agents_needed(rate_per_s, handle_s, target, threshold_s)
    step = 1
    if meets(start):  # look below: low fails (or is 0), high meets
        high, low = start, start - 1
        while low > 0 and meets(low):
            high, low = low, max(0, low - step)
            step *= 2
    else:  # look above
        low, high = start, start + 1
        while not meets(high):
            low, high = high, high + step
            step *= 2
    while high - low > 1:
        middle = (low + high) // 2
        if meets(middle):
            high = middle
        else:
            low = middle
    return high
