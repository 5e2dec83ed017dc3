"""How many calls a campaign places: preview, progressive and predictive pacing.

Pure logic: the dialing engine (acd/dialer/service.py) tells a pacer what happened to its
calls and asks it, about once a second, how many new calls to place; every method takes the
time, so the pacers run the same on the reactor's clock, a test's floats or the floor model
of ``make bench`` (tests/support/dialer_floor.py). The engine reports a call's life as:

    placed -> answered (a person) -> connected (an agent took it) -> talk_ended
                                         (the customer gone) -> handled (wrap-up done)
                                   -> abandoned (no agent within 2 s: safe harbor)
           -> unanswered (no_answer, busy, congestion, machine, failed)

``handled`` may also come at the end of the talk, right after ``talk_ended``, with the
queue's wrap-up added (as the engine does). The pacer records answered and abandoned calls
into the campaign's ``AbandonMeter`` (the engine must not record them again) and the rest
into its ``CallHistory`` (acd/dialer/call_history.py).

The predictive controller, in the spirit of the open adaptive dialers (VICIdial's
ADAPT_HARD_LIMIT / ADAPT_AVERAGE / ADAPT_TAPERED: a dial level bounded by a maximum, backed
off when the drop rate passes its limit) and of the textbook predictive dialer that
anticipates agents about to free from the handle-time distribution:

- Each second it counts what the next answers will find. Agents: the idle ones, plus for
  each agent on a campaign call the chance to be free within the horizon (mean time to
  answer + the 2 s grace), read from the empirical distribution of recent talk times
  (P(T <= e + h - wrap | T > e) for a call ``e`` seconds into its talk) or, for an agent in
  wrap-up, of wrap-up times; without ``talk_ended`` reports, of handle times. Answers: each
  line in flight answers with P = p S(e) / (p S(e) + (1 - p) M(e)) (``p`` the recent
  answer rate, ``S(e)`` and ``M(e)`` the shares of answered and of unanswered lines that
  took longer than the ``e`` seconds it has rung: a busy line ends at once); answered
  calls waiting for an agent surely take one. It places new lines one by one
  while the chance that the next one is answered when the others have taken every agent
  (answers and agents as sums of independent chances, read from a normal approximation)
  stays under the *risk* threshold, and never more than ``max_dial_level`` lines in all
  per available agent. The dial level it reports is lines in flight per available agent
  (shown at most at ``max_dial_level``).
  (A level fixed for 5 s and applied each second did worse on the floor model: 80.4%
  occupancy at 3.5% abandoned against 80.2% at 1.1%.)
- The risk threshold is a stochastic-approximation loop on every answered call: down by a
  factor exp(-eta (1 - s)) on an abandon, up by exp(eta s) on a call that reached an agent
  while the risk (not the cap) limited the dialing, so the recent abandon share settles
  at ``s`` = ``safety`` x target (2.55% for a 3% target).
- Every ``recompute_s`` (5 s) the mode is re-decided from the campaign's abandon rate over
  the last 24 hours and 30 days (the meter): ``hard``: while either window is above
  target, progressive 1:1; ``average``: while the mean of the two windows is above target,
  the risk threshold is scaled by target/mean at each recompute and does not climb (a
  gradual slow-down, not a drop); ``tapered``: the 24-hour rate may reach
  ``target x (1 + (TAPER - 1) x (1 - f))`` where ``f`` is the elapsed share of the
  campaign's calling window today (campaign time zone), i.e. twice the target at the
  window's start, the target itself at its end; the 30-day rate must stay under target;
  above either, progressive 1:1. A window with fewer than ``MIN_ANSWERED`` answered calls
  does not trigger a backoff (one abandon in the first ten calls is not 10%).
- Fewer than ``min_predictive_agents`` logged-in agents (idle + busy), or too few handle
  times yet (two per agent, at least ``MIN_SAMPLES``: the first calls to end are the short
  ones): progressive at the campaign's ratio.

Deterministic given its inputs: no randomness, no wall clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.dialer.abandon import AbandonMeter
from acd.dialer.call_history import HISTORY, MIN_SAMPLES, CallHistory

MODES = ("preview", "progressive", "predictive")
BACKOFFS = ("hard", "average", "tapered")

TAPER = 2.0  # tapered: the allowed 24-hour rate at the start of the calling window, x target
MIN_ANSWERED = 50  # a window with fewer answered calls never triggers a backoff
MIN_RISK, MAX_RISK = 0.002, 0.3  # bounds of the risk a new line may carry


@dataclass(frozen=True)
class PacingSettings:
    """A campaign's pacing settings (the ``campaigns`` columns of the same names)."""

    ratio: float = 1.0
    target_abandon_pct: float = 3.0
    backoff: str = "hard"
    max_dial_level: float = 3.0
    min_predictive_agents: int = 5
    recompute_s: float = 5.0
    window_start: str = "09:00"
    window_end: str = "21:00"
    tz: str = "Asia/Shanghai"
    safety: float = 0.85  # the short-term abandon share aimed at, x target
    eta: float = 0.1  # the risk loop's step (log scale)

    def __post_init__(self) -> None:
        errors = []
        if not self.ratio > 0:
            errors.append(f"ratio must be above 0, not {self.ratio}")
        if not 0 < self.target_abandon_pct < 100:
            errors.append(
                f"target abandon must be between 0 and 100%, not {self.target_abandon_pct}"
            )
        if self.backoff not in BACKOFFS:
            errors.append(f"backoff must be one of {', '.join(BACKOFFS)}, not {self.backoff!r}")
        if not self.max_dial_level >= 1:
            errors.append(f"max dial level must be at least 1, not {self.max_dial_level}")
        if self.min_predictive_agents < 0:
            errors.append(
                f"min predictive agents cannot be negative ({self.min_predictive_agents})"
            )
        if not self.recompute_s > 0:
            errors.append(f"recompute interval must be above 0 s, not {self.recompute_s}")
        if not 0 < self.safety <= 1:
            errors.append(f"safety must be in (0, 1], not {self.safety}")
        for name in ("window_start", "window_end"):
            try:
                _minutes(getattr(self, name))
            except ValueError:
                errors.append(f"{name} must be HH:MM, not {getattr(self, name)!r}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(f"unknown time zone {self.tz!r}")
        if errors:
            raise ValueError("; ".join(errors))

    @classmethod
    def from_campaign(cls, campaign: Any, **overrides: Any) -> PacingSettings:
        """From a campaign row or record with the contract's column names (missing ones:
        the defaults)."""
        values: dict[str, Any] = {}
        for name, column in (
            ("ratio", "ratio"),
            ("target_abandon_pct", "target_abandon_pct"),
            ("backoff", "backoff"),
            ("max_dial_level", "max_dial_level"),
            ("min_predictive_agents", "min_predictive_agents"),
            ("window_start", "window_start"),
            ("window_end", "window_end"),
            ("tz", "default_tz"),
        ):
            value = getattr(campaign, column, None)
            if value is not None:
                values[name] = value
        values.update(overrides)
        return cls(**values)


def _minutes(hhmm: str) -> int:
    h, _, m = hhmm.partition(":")
    if not (h.isdigit() and m.isdigit() and len(m) == 2):
        raise ValueError(hhmm)
    hours, minutes = int(h), int(m)
    if hours > 24 or minutes > 59 or hours * 60 + minutes > 24 * 60:
        raise ValueError(hhmm)
    return hours * 60 + minutes


class Pacer(Protocol):
    """What the engine asks a campaign's pacer and tells it."""

    mode: str

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        """New calls to place now (0 or more). ``in_flight``: lines ringing, or answered and
        not yet with an agent."""
        ...

    def placed(self, now: float) -> None: ...

    def answered(self, now: float, ring_s: float) -> None:
        """A person answered after ``ring_s`` seconds of ringing."""
        ...

    def unanswered(self, now: float, outcome: str) -> None:
        """A line ended without a person: no_answer, busy, congestion, machine, failed."""
        ...

    def connected(self, now: float, wait_s: float) -> None:
        """An answered call reached an agent after ``wait_s`` seconds."""
        ...

    def abandoned(self, now: float) -> None:
        """An answered call found no agent within 2 s."""
        ...

    def talk_ended(self, now: float, talk_s: float) -> None:
        """The customer's side of a connected call ended after ``talk_s`` seconds of talk:
        the agent is in wrap-up (optional for the engine, but the predictive pacer
        anticipates agents about to free much better with it)."""
        ...

    def handled(self, now: float, handle_s: float) -> None:
        """An agent finished a campaign call: talk and wrap-up, ``handle_s`` from connect."""
        ...

    def figures(self) -> dict[str, float]:
        """dial_level, answer_rate, abandon_24h and abandon_30d (percent), ..."""
        ...


class _Base:
    """Bookkeeping every mode shares: the meter, counts and the call history."""

    mode = ""

    def __init__(
        self,
        settings: PacingSettings,
        meter: AbandonMeter,
        clock_now: Callable[[], float],
        history: CallHistory | None = None,
    ) -> None:
        self.settings, self.meter, self.clock_now = settings, meter, clock_now
        self.history = history if history is not None else CallHistory()
        self.placed_count = self.answered_count = self.abandoned_count = 0
        self.unanswered_count = self.connected_count = 0

    def placed(self, now: float) -> None:
        self.placed_count += 1
        self.history.placed(now)

    def answered(self, now: float, ring_s: float) -> None:
        self.answered_count += 1
        self.meter.answered(now)
        self.history.answered(now, ring_s)

    def unanswered(self, now: float, outcome: str) -> None:
        self.unanswered_count += 1
        self.history.unanswered(now, outcome)

    def connected(self, now: float, wait_s: float) -> None:
        self.connected_count += 1
        self.history.connected(now)

    def abandoned(self, now: float) -> None:
        self.abandoned_count += 1
        self.meter.abandoned(now)
        self.history.abandoned()

    def talk_ended(self, now: float, talk_s: float) -> None:
        self.history.talk_ended(now, talk_s)

    def handled(self, now: float, handle_s: float) -> None:
        self.history.handled(now, handle_s)

    def dial_level(self) -> float:
        return 0.0

    def figures(self) -> dict[str, float]:
        now = self.clock_now()
        finished = self.answered_count + self.unanswered_count
        return {
            "dial_level": self.dial_level(),
            "answer_rate": self.answered_count / finished if finished else 0.0,
            "abandon_24h": self.meter.rate_24h(now),
            "abandon_30d": self.meter.rate_30d(now),
            "placed": float(self.placed_count),
            "answered": float(self.answered_count),
            "abandoned": float(self.abandoned_count),
        }


class PreviewPacer(_Base):
    """The agent asks for the next lead and dials it: the pacer never places a call."""

    mode = "preview"

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        return 0


def progressive_lines(ratio: float, idle_agents: int, in_flight: int) -> int:
    """``ratio`` lines per idle agent, less the lines already in flight."""
    return max(0, math.floor(ratio * idle_agents + 1e-9) - in_flight)


class ProgressivePacer(_Base):
    """A fixed number of lines per idle agent (the campaign's ``ratio``; 1.0 never
    abandons a call, since every line has its agent waiting)."""

    mode = "progressive"

    def __init__(
        self,
        settings: PacingSettings,
        meter: AbandonMeter,
        clock_now: Callable[[], float],
        history: CallHistory | None = None,
        ratio: float | None = None,
    ) -> None:
        super().__init__(settings, meter, clock_now, history)
        self.ratio = settings.ratio if ratio is None else ratio

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        return progressive_lines(self.ratio, idle_agents, in_flight)

    def dial_level(self) -> float:
        return self.ratio


class PredictivePacer(_Base):
    """The adaptive controller described in the module's docstring."""

    mode = "predictive"

    def __init__(
        self,
        settings: PacingSettings,
        meter: AbandonMeter,
        clock_now: Callable[[], float],
        history: CallHistory | None = None,
    ) -> None:
        super().__init__(settings, meter, clock_now, history)
        self.risk = settings.target_abandon_pct / 100.0
        self.level = 1.0
        self.state = "progressive"  # or "predictive", "backoff"
        self._next_recompute: float | None = None
        self._risk_bound = False  # the last decision stopped at the risk, not at a cap
        self._climb = True  # backoff "average" holds the risk from climbing

    # -- the risk loop -------------------------------------------------------------------

    def connected(self, now: float, wait_s: float) -> None:
        super().connected(now, wait_s)
        if self.state == "predictive" and self._risk_bound and self._climb:
            s = self._aim()
            self.risk = min(MAX_RISK, self.risk * math.exp(self.settings.eta * s))

    def abandoned(self, now: float) -> None:
        super().abandoned(now)
        s = self._aim()
        self.risk = max(MIN_RISK, self.risk * math.exp(-self.settings.eta * (1.0 - s)))

    def _aim(self) -> float:
        """The share of answered calls the risk loop lets be abandoned."""
        return self.settings.safety * self.settings.target_abandon_pct / 100.0

    # -- estimates -----------------------------------------------------------------------

    def answer_rate(self) -> float:
        return self.history.answer_rate()

    def balance(
        self, now: float, idle_agents: int, busy_agents: int, in_flight: int
    ) -> tuple[float, float, float, float]:
        """(answer rate, mean and variance of answers still to come less agents there to
        take them, available agents) over the horizon, before any new line."""
        h = self.history
        p = h.answer_rate()
        mean, var = h.answer_chances(now, in_flight, p)
        frees = h.free_chances(now, h.horizon_s())
        if len(frees) > busy_agents:  # more than the engine counts: keep the least likely
            frees = sorted(frees)[: max(0, busy_agents)]
        available = idle_agents + sum(frees)
        return p, mean - available, var + sum(f * (1.0 - f) for f in frees), available

    def abandon_risk(
        self, now: float, idle_agents: int, busy_agents: int, in_flight: int, n: int
    ) -> float:
        """The chance that one more line, placed after ``n`` new ones, is answered when
        the other answers have taken every agent: P(answers >= agents) with answers and
        agents as sums of independent chances, read from a normal approximation."""
        p, mean, var, _ = self.balance(now, idle_agents, busy_agents, in_flight)
        return _p_at_least_zero(mean + n * p, var + n * p * (1.0 - p))

    # -- decisions -----------------------------------------------------------------------

    def _backoff(self, now: float) -> tuple[bool, float]:
        """(drop to 1:1, factor for the risk) from the 24-hour and 30-day rates."""
        st = self.settings
        target = st.target_abandon_pct
        day_n, _ = self.meter.counts_24h(now)
        month_n, _ = self.meter.counts_30d(now)
        day = self.meter.rate_24h(now) if day_n >= MIN_ANSWERED else 0.0
        month = self.meter.rate_30d(now) if month_n >= MIN_ANSWERED else 0.0
        if st.backoff == "hard":
            return (day > target or month > target), 1.0
        if st.backoff == "average":
            mean = (day + month) / 2.0
            return False, (target / mean if mean > target else 1.0)
        return (day > self.tapered_limit(now) or month > target), 1.0

    def tapered_limit(self, now: float) -> float:
        """The 24-hour rate allowed now under ``tapered``."""
        st = self.settings
        local = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(st.tz))
        minute = local.hour * 60 + local.minute + local.second / 60.0
        start, end = _minutes(st.window_start), _minutes(st.window_end)
        if end <= start:
            end += 24 * 60
            if minute < start:
                minute += 24 * 60
        f = min(1.0, max(0.0, (minute - start) / (end - start)))
        return st.target_abandon_pct * (1.0 + (TAPER - 1.0) * (1.0 - f))

    def _recompute(self, now: float, idle_agents: int, busy_agents: int) -> None:
        st = self.settings
        staffed = idle_agents + busy_agents
        # The first calls to end are the short ones: until about two calls per agent have
        # ended, the handle times seen say agents free sooner than they do.
        needed = min(HISTORY, max(MIN_SAMPLES, 2 * staffed))
        if staffed < st.min_predictive_agents or len(self.history.handle) < needed:
            self.state, self.level = "progressive", st.ratio
            return
        hard, factor = self._backoff(now)
        if hard:
            self.state, self.level = "backoff", 1.0
            return
        self._climb = factor >= 1.0
        if factor < 1.0:
            self.risk = max(MIN_RISK, self.risk * factor)
        self.state = "predictive"

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        if self._next_recompute is None or now >= self._next_recompute:
            self._recompute(now, idle_agents, busy_agents)
            self._next_recompute = now + self.settings.recompute_s
        self.history.prune(now)
        if self.state != "predictive":
            return progressive_lines(self.level, idle_agents, in_flight)
        p, mean, var, available = self.balance(now, idle_agents, busy_agents, in_flight)
        cap = math.floor(self.settings.max_dial_level * max(available, 1.0) + 1e-9) - in_flight
        n = 0
        while n < cap and _p_at_least_zero(mean + n * p, var + n * p * (1.0 - p)) <= self.risk:
            n += 1
        # Did the risk stop us (the loop may climb), or the cap (it must not wind up)?
        self._risk_bound = _p_at_least_zero(mean + n * p, var + n * p * (1.0 - p)) > self.risk
        # lines per available agent; agents taken since lines were placed can push it past
        # the cap for a moment: what the wallboard shows stays within it
        level = (in_flight + n) / available if available > 0 else 0.0
        self.level = min(level, self.settings.max_dial_level)
        return n

    def dial_level(self) -> float:
        return self.level

    def figures(self) -> dict[str, float]:
        out = super().figures()
        out["predicting"] = 1.0 if self.state == "predictive" else 0.0
        out["backing_off"] = 1.0 if self.state == "backoff" else 0.0
        out["risk"] = self.risk
        out["mean_handle_s"] = self.history.handle.mean()
        out["mean_ring_s"] = self.history.ring.mean()
        return out


def _p_at_least_zero(mean: float, var: float) -> float:
    """P(X >= 0) for an integer X with this mean and variance (normal, continuity
    corrected)."""
    if var <= 1e-12:
        return 1.0 if mean > -0.5 else 0.0
    return 0.5 * math.erfc((-0.5 - mean) / math.sqrt(2.0 * var))


def make_pacer(
    mode: str,
    settings: PacingSettings,
    meter: AbandonMeter,
    clock_now: Callable[[], float],
    previous: Pacer | None = None,
) -> Pacer:
    """The pacer for a campaign's mode (``preview``, ``progressive``, ``predictive``).
    ``previous``: the campaign's pacer before its settings or mode changed; the new one
    keeps what it learnt (the call history and, predictive to predictive, the risk), so a
    change does not send predictive back to learning handle times for minutes."""
    history = getattr(previous, "history", None)
    if history is not None and not isinstance(history, CallHistory):
        history = None
    pacer: _Base
    if mode == "preview":
        pacer = PreviewPacer(settings, meter, clock_now, history)
    elif mode == "progressive":
        pacer = ProgressivePacer(settings, meter, clock_now, history)
    elif mode == "predictive":
        pacer = PredictivePacer(settings, meter, clock_now, history)
        if isinstance(previous, PredictivePacer):
            pacer.risk = previous.risk
    else:
        raise ValueError(f"unknown dialing mode {mode!r}: one of {', '.join(MODES)}")
    return pacer
