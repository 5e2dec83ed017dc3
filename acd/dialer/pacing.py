"""How many calls a campaign places: preview, progressive and predictive pacing.

Pure logic: the dialing engine (acd/dialer/service.py) tells a pacer what happened to its
calls and asks it, about once a second, how many new calls to place; every method takes the
time, so the pacers run the same on the reactor's clock, a test's floats or the floor model
of ``make bench`` (tests/support/dialer_floor.py). The engine reports a call's life as:

    placed -> answered (a person) -> connected (an agent took it) -> handled (wrap-up done)
                                   -> abandoned (no agent within 2 s: safe harbor)
           -> unanswered (no_answer, busy, congestion, machine, failed)

The pacer records answered and abandoned calls into the campaign's ``AbandonMeter`` (the
engine must not record them again).

The predictive controller, in the spirit of the open adaptive dialers (VICIdial's
ADAPT_* methods) and of the textbook predictive dialer that anticipates agents about to
free from the handle-time distribution:

- Every ``recompute_s`` (5 s) it sets the *dial level*, lines per available agent:
  ``k / answer_rate``, clamped to [1, max_dial_level]. ``answer_rate`` is the share of
  recent finished lines a person answered; ``k`` (about 1) is an aggressiveness that a
  stochastic-approximation loop moves on every answered call: down by ``eta * (1 - s)``
  on an abandon, up by ``eta * s`` on a call that reached an agent while agents were
  waiting, so the recent abandon share settles at ``s`` = ``safety`` x target (2.55% for a
  3% target).
- Each second: available agents = idle agents + the busy agents expected to free within the
  time a new line takes to be answered (for each agent on a call of the campaign, the
  chance that a handle time already ``e`` seconds long ends within the horizon, from the
  empirical distribution of recent handle times: P(H <= e + h | H > e)). Lines wanted =
  level x available; lines in flight count by their remaining chance to be answered
  relative to a fresh line (a line that has rung 20 s will rarely still answer), and the
  difference is placed, never more than ``max_dial_level`` x available lines in all.
- Backoff, from the campaign's abandon rate over the last 24 hours and 30 days (the meter):
  ``hard``: while either window is above target, progressive 1:1; ``average``: while the
  mean of the two windows is above target, the level is scaled by target/mean at each
  recompute (down to 1); ``tapered``: the 24-hour rate may reach
  ``target x (1 + (TAPER - 1) x (1 - f))`` where ``f`` is the elapsed share of the
  campaign's calling window today (campaign time zone), i.e. twice the target at the
  window's start, the target itself at its end; the 30-day rate must stay under target;
  above either, progressive 1:1. A window with fewer than ``MIN_ANSWERED`` answered calls
  does not trigger a backoff (one abandon in the first ten calls is not 10%).
- Fewer than ``min_predictive_agents`` logged-in agents (idle + busy), or too few handle
  times yet (``MIN_SAMPLES``): progressive at the campaign's ratio.

Deterministic given its inputs: no randomness, no wall clock.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.dialer.abandon import AbandonMeter

MODES = ("preview", "progressive", "predictive")
BACKOFFS = ("hard", "average", "tapered")
UNANSWERED = ("no_answer", "busy", "congestion", "machine", "failed", "dnc")

TAPER = 2.0  # tapered: the allowed 24-hour rate at the start of the calling window, x target
MIN_ANSWERED = 50  # a window with fewer answered calls never triggers a backoff
MIN_SAMPLES = 20  # handle times needed before predicting (progressive until then)
HISTORY = 500  # recent handle and ring times kept for the distributions
OUTCOMES = 300  # recent finished lines for the answer rate
GRACE_S = 2.0  # an answered call waits this long for an agent, then it is abandoned


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
    eta: float = 0.02  # the aggressiveness loop's step

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

    def handled(self, now: float, handle_s: float) -> None:
        """An agent finished a campaign call: talk and wrap-up, ``handle_s`` from connect."""
        ...

    def figures(self) -> dict[str, float]:
        """dial_level, answer_rate, abandon_24h and abandon_30d (percent), ..."""
        ...


class _Base:
    """Bookkeeping every mode shares: the meter and counts."""

    mode = ""

    def __init__(
        self, settings: PacingSettings, meter: AbandonMeter, clock_now: Callable[[], float]
    ) -> None:
        self.settings, self.meter, self.clock_now = settings, meter, clock_now
        self.placed_count = self.answered_count = self.abandoned_count = 0
        self.unanswered_count = self.connected_count = 0

    def placed(self, now: float) -> None:
        self.placed_count += 1

    def answered(self, now: float, ring_s: float) -> None:
        self.answered_count += 1
        self.meter.answered(now)

    def unanswered(self, now: float, outcome: str) -> None:
        self.unanswered_count += 1

    def connected(self, now: float, wait_s: float) -> None:
        self.connected_count += 1

    def abandoned(self, now: float) -> None:
        self.abandoned_count += 1
        self.meter.abandoned(now)

    def handled(self, now: float, handle_s: float) -> None:
        pass

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
        ratio: float | None = None,
    ) -> None:
        super().__init__(settings, meter, clock_now)
        self.ratio = settings.ratio if ratio is None else ratio

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        return progressive_lines(self.ratio, idle_agents, in_flight)

    def dial_level(self) -> float:
        return self.ratio


class _Sorted:
    """The last ``size`` values, also kept sorted for an empirical distribution."""

    def __init__(self, size: int) -> None:
        self._recent: deque[float] = deque(maxlen=size)
        self.sorted: list[float] = []
        self.total = 0.0

    def add(self, value: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            del self.sorted[bisect.bisect_left(self.sorted, old)]
            self.total -= old
        self._recent.append(value)
        bisect.insort(self.sorted, value)
        self.total += value

    def __len__(self) -> int:
        return len(self.sorted)

    def mean(self) -> float:
        return self.total / len(self.sorted) if self.sorted else 0.0

    def survival(self, x: float) -> float:
        """The share of values above ``x``."""
        n = len(self.sorted)
        return (n - bisect.bisect_right(self.sorted, x)) / n if n else 0.0


class PredictivePacer(_Base):
    """The adaptive controller described in the module's docstring."""

    mode = "predictive"

    def __init__(
        self, settings: PacingSettings, meter: AbandonMeter, clock_now: Callable[[], float]
    ) -> None:
        super().__init__(settings, meter, clock_now)
        self._handle = _Sorted(HISTORY)
        self._ring = _Sorted(HISTORY)
        self._outcomes: deque[bool] = deque(maxlen=OUTCOMES)
        self._ringing: list[float] = []  # placement times of lines not yet finished
        self._busy_since: list[float] = []  # connect times of calls agents are handling
        self._waiting = 0  # answered, not yet with an agent nor abandoned
        self.k = 1.0
        self.level = 1.0
        self.state = "progressive"  # or "predictive", "backoff"
        self._next_recompute: float | None = None
        self._idle_seen = 0

    # -- what happened -------------------------------------------------------------------

    def placed(self, now: float) -> None:
        super().placed(now)
        bisect.insort(self._ringing, now)

    def _line_ended(self, placed_at: float | None) -> None:
        if not self._ringing:
            return
        if placed_at is None:
            self._ringing.pop(0)  # the oldest: lines that end unanswered ring longest
            return
        i = bisect.bisect_left(self._ringing, placed_at)
        if i == len(self._ringing) or (
            i > 0 and placed_at - self._ringing[i - 1] <= self._ringing[i] - placed_at
        ):
            i -= 1
        self._ringing.pop(i)

    def answered(self, now: float, ring_s: float) -> None:
        super().answered(now, ring_s)
        self._outcomes.append(True)
        self._ring.add(max(0.0, ring_s))
        self._line_ended(now - ring_s)
        self._waiting += 1

    def unanswered(self, now: float, outcome: str) -> None:
        super().unanswered(now, outcome)
        self._outcomes.append(False)
        self._line_ended(None)

    def connected(self, now: float, wait_s: float) -> None:
        super().connected(now, wait_s)
        self._waiting = max(0, self._waiting - 1)
        bisect.insort(self._busy_since, now)
        s = self.settings.safety * self.settings.target_abandon_pct / 100.0
        if self._idle_seen > 0 and self.state == "predictive":
            self.k += self.settings.eta * s

    def abandoned(self, now: float) -> None:
        super().abandoned(now)
        self._waiting = max(0, self._waiting - 1)
        s = self.settings.safety * self.settings.target_abandon_pct / 100.0
        self.k = max(0.2, self.k - self.settings.eta * (1.0 - s))

    def handled(self, now: float, handle_s: float) -> None:
        self._handle.add(max(0.0, handle_s))
        if self._busy_since:
            start = now - handle_s
            i = bisect.bisect_left(self._busy_since, start)
            if i == len(self._busy_since) or (
                i > 0 and start - self._busy_since[i - 1] <= self._busy_since[i] - start
            ):
                i -= 1
            self._busy_since.pop(i)

    # -- estimates -----------------------------------------------------------------------

    def answer_rate(self) -> float:
        """Recent finished lines a person answered; with few, leaning to 1/2 (fewer
        lines: the safe side)."""
        n = len(self._outcomes)
        return (sum(self._outcomes) + 5.0) / (n + 10.0)

    def horizon_s(self) -> float:
        """How far ahead a line placed now matters: its mean time to answer, plus the
        grace an answered call waits for an agent."""
        ring = self._ring.mean() if len(self._ring) else 10.0
        return ring + GRACE_S

    def expected_frees(self, now: float, busy_agents: int, horizon: float) -> float:
        """Busy agents expected to be free within ``horizon`` seconds."""
        h = self._handle
        if len(h) < MIN_SAMPLES:
            return 0.0
        mean = h.mean()
        total = 0.0
        for since in self._busy_since[:busy_agents]:
            elapsed = now - since
            alive = h.survival(elapsed)
            if alive <= 0.0:
                total += min(1.0, horizon / mean) if mean > 0 else 1.0
            else:
                total += (alive - h.survival(elapsed + horizon)) / alive
        untracked = busy_agents - min(busy_agents, len(self._busy_since))
        if untracked and mean > 0:
            total += untracked * min(1.0, horizon / mean)
        return total

    def in_flight_weight(self, now: float, in_flight: int, p: float) -> float:
        """Lines in flight counted by their chance to be answered relative to a fresh line:
        P(answer | still ringing after e) / p; an answered call waiting for an agent is
        certain, 1 / p."""
        if not len(self._ring) or p <= 0:
            return float(in_flight)
        waiting = min(in_flight, self._waiting)
        ringing = in_flight - waiting
        total = waiting / p
        tracked = self._ringing[-ringing:] if ringing else []
        for placed_at in tracked:
            a = p * self._ring.survival(now - placed_at)
            total += a / (a + 1.0 - p) / p
        return total + (ringing - len(tracked))

    # -- decisions -----------------------------------------------------------------------

    def _backoff(self, now: float) -> tuple[bool, float]:
        """(drop to 1:1, scale for the level) from the 24-hour and 30-day rates."""
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
        if staffed < st.min_predictive_agents or len(self._handle) < MIN_SAMPLES:
            self.state, self.level = "progressive", st.ratio
            return
        hard, scale = self._backoff(now)
        if hard:
            self.state, self.level = "backoff", 1.0
            return
        p = self.answer_rate()
        self.k = min(self.k, st.max_dial_level * p * 1.25)  # no wind-up past the clamp
        level = min(st.max_dial_level, max(1.0, self.k / p))
        if scale < 1.0:
            self.k *= scale
            level = max(1.0, level * scale)
        self.state, self.level = "predictive", level

    def calls_to_place(self, now: float, idle_agents: int, busy_agents: int, in_flight: int) -> int:
        if self._next_recompute is None or now >= self._next_recompute:
            self._recompute(now, idle_agents, busy_agents)
            self._next_recompute = now + self.settings.recompute_s
        self._idle_seen = idle_agents
        if self.state != "predictive":
            return progressive_lines(self.level, idle_agents, in_flight)
        p = self.answer_rate()
        available = idle_agents + self.expected_frees(now, busy_agents, self.horizon_s())
        wanted = self.level * available - self.in_flight_weight(now, in_flight, p)
        cap = math.floor(self.settings.max_dial_level * available + 1e-9) - in_flight
        return max(0, min(math.floor(wanted + 1e-9), cap))

    def dial_level(self) -> float:
        return self.level

    def figures(self) -> dict[str, float]:
        out = super().figures()
        out["predicting"] = 1.0 if self.state == "predictive" else 0.0
        out["backing_off"] = 1.0 if self.state == "backoff" else 0.0
        out["aggressiveness"] = self.k
        out["mean_handle_s"] = self._handle.mean()
        out["mean_ring_s"] = self._ring.mean()
        return out


def make_pacer(
    mode: str, settings: PacingSettings, meter: AbandonMeter, clock_now: Callable[[], float]
) -> Pacer:
    """The pacer for a campaign's mode (``preview``, ``progressive``, ``predictive``)."""
    if mode == "preview":
        return PreviewPacer(settings, meter, clock_now)
    if mode == "progressive":
        return ProgressivePacer(settings, meter, clock_now)
    if mode == "predictive":
        return PredictivePacer(settings, meter, clock_now)
    raise ValueError(f"unknown dialing mode {mode!r}: one of {', '.join(MODES)}")
