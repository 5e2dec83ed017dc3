"""What a campaign's calls did lately, as the predictive pacer reads it (acd/dialer/pacing.py).

The engine reports each call's life (placed, answered after ``ring_s``, unanswered with its
outcome, connected, abandoned, talk ended, handled); ``CallHistory`` keeps the recent
distributions (ring times of answered and unanswered lines, talk, wrap-up and handle
times: the last ``HISTORY`` of each, sorted) and what is in progress (lines ringing, agents
talking or in wrap-up, answered calls waiting for an agent), and answers the two questions
pacing asks: how many answers are still to come from the lines in flight, and how likely is
each busy agent to be free within a horizon. Every pacer keeps one, so a campaign whose
settings or mode change keeps what it learnt (``make_pacer(..., previous=...)``).
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable

HISTORY = 500  # recent values kept per distribution
OUTCOMES = 300  # recent finished lines for the answer rate
MIN_SAMPLES = 50  # values needed before a distribution is trusted
GRACE_S = 2.0  # an answered call waits this long for an agent, then it is abandoned


class Recent:
    """The last ``size`` values, also kept sorted for an empirical distribution."""

    def __init__(self, size: int = HISTORY) -> None:
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


class Wrapping:
    """An agent in wrap-up: connected at ``connect``, the customer gone at ``ended``;
    ``until``: when the wrap-up ends, when the engine said so ahead (None: not told)."""

    __slots__ = ("connect", "ended", "until")

    def __init__(self, connect: float, ended: float) -> None:
        self.connect, self.ended = connect, ended
        self.until: float | None = None


class CallHistory:
    """A campaign's recent calls (see the module's docstring)."""

    def __init__(self) -> None:
        self.handle = Recent()  # connect -> wrap-up done
        self.talk = Recent()  # connect -> customer gone (talk_ended)
        self.wrap = Recent()  # customer gone -> wrap-up done
        self.ring = Recent()  # placed -> a person answered
        self.miss = Recent()  # placed -> ended without a person
        self.outcomes: deque[bool] = deque(maxlen=OUTCOMES)
        self.ringing: list[float] = []  # placement times of lines not yet finished
        self.talking: list[float] = []  # connect times of calls still in talk
        self.wrapping: list[Wrapping] = []
        self.waiting = 0  # answered, not yet with an agent nor abandoned

    def warm(
        self,
        talk: Iterable[float],
        wrap_s: float,
        ring: Iterable[float],
        miss: Iterable[float],
        outcomes: Iterable[bool],
    ) -> None:
        """Seed the distributions with stored calls (oldest first): each talk time with the
        queue's wrap-up ``wrap_s`` as a handled call, the ring times of answered and of
        unanswered lines, and whether each finished line was answered by a person. Nothing
        in progress is touched."""
        for t in talk:
            self.talk.add(max(0.0, t))
            self.wrap.add(max(0.0, wrap_s))
            self.handle.add(max(0.0, t) + max(0.0, wrap_s))
        for r in ring:
            self.ring.add(max(0.0, r))
        for m in miss:
            self.miss.add(max(0.0, m))
        self.outcomes.extend(outcomes)

    # -- what happened -------------------------------------------------------------------

    def placed(self, now: float) -> None:
        bisect.insort(self.ringing, now)

    def answered(self, now: float, ring_s: float) -> None:
        self.outcomes.append(True)
        self.ring.add(max(0.0, ring_s))
        pop_nearest(self.ringing, now - ring_s)
        self.waiting += 1

    def unanswered(self, now: float, outcome: str) -> None:
        """Which line ended is not said; its outcome tells its likely age: a line that rang
        out is the oldest, a machine answered after a usual ring, busy or congestion
        comes back at once (the newest)."""
        self.outcomes.append(False)
        if not self.ringing:
            return
        if outcome == "no_answer":
            placed_at: float | None = self.ringing.pop(0)
        elif outcome == "machine":
            ring = self.ring.mean() if len(self.ring) else 10.0
            placed_at = pop_nearest(self.ringing, now - ring)
        else:
            placed_at = self.ringing.pop()
        if placed_at is not None:
            self.miss.add(max(0.0, now - placed_at))

    def connected(self, now: float) -> None:
        self.waiting = max(0, self.waiting - 1)
        bisect.insort(self.talking, now)

    def abandoned(self) -> None:
        self.waiting = max(0, self.waiting - 1)

    def talk_ended(self, now: float, talk_s: float) -> None:
        self.talk.add(max(0.0, talk_s))
        connect = pop_nearest(self.talking, now - talk_s)
        if connect is not None:
            self.wrapping.append(Wrapping(connect, now))

    def handled(self, now: float, handle_s: float) -> None:
        """Either told when the wrap-up is over, or, at the end of the talk (right after
        ``talk_ended``), with the queue's wrap-up added: then the agent stays counted as in
        wrap-up until ``handle_s`` after connect."""
        self.handle.add(max(0.0, handle_s))
        if not self.wrapping:
            pop_nearest(self.talking, now - handle_s)
            return
        same = [w for w in self.wrapping if w.until is None and w.ended == now]
        if same:  # the wrap-up to come, projected
            entry = same[-1]
            entry.until = entry.connect + handle_s
        else:
            entry = min(self.wrapping, key=lambda w: abs(w.connect - (now - handle_s)))
            self.wrapping.remove(entry)
        self.wrap.add(max(0.0, handle_s - (entry.ended - entry.connect)))

    def prune(self, now: float) -> None:
        """Forget the wrap-ups told ahead that are over (the agents are idle again)."""
        self.wrapping = [w for w in self.wrapping if w.until is None or w.until > now]

    # -- estimates -----------------------------------------------------------------------

    def answer_rate(self) -> float:
        """Recent finished lines a person answered; with few, leaning to 1/2 (fewer
        lines: the safe side)."""
        return (sum(self.outcomes) + 5.0) / (len(self.outcomes) + 10.0)

    def horizon_s(self) -> float:
        """How far ahead a line placed now matters: its mean time to answer, plus the
        grace an answered call waits for an agent."""
        ring = self.ring.mean() if len(self.ring) else 10.0
        return ring + GRACE_S

    def free_chances(self, now: float, horizon: float) -> list[float]:
        """For each agent on a campaign call, the chance to be free within ``horizon``:
        from talk and wrap-up times when the engine reports the end of talk, else from
        handle times."""
        out = []
        split = len(self.talk) >= len(self.handle) // 2 and len(self.wrap) >= MIN_SAMPLES
        talk_left = horizon - self.wrap.mean()
        for since in self.talking:
            if split:
                out.append(ends_within(self.talk, now - since, talk_left))
            else:
                out.append(ends_within(self.handle, now - since, horizon))
        for w in self.wrapping:
            if w.until is not None:
                out.append(1.0 if w.until <= now + horizon else 0.0)
            elif split:
                out.append(ends_within(self.wrap, now - w.ended, horizon))
            else:
                out.append(ends_within(self.handle, now - w.connect, horizon))
        return out

    def answer_chances(self, now: float, in_flight: int, p: float) -> tuple[float, float]:
        """(mean, variance) of the answers still to come from the lines in flight: a line
        that has rung ``e`` seconds answers with P = p S(e) / (p S(e) + (1 - p) M(e)) (S:
        the share of answers that take longer than ``e``, M: of lines that end without a
        person, busy ones at once, unanswered ones at the ring timeout); an answered call
        waiting for an agent surely takes one."""
        waiting = min(in_flight, self.waiting)
        ringing = in_flight - waiting
        mean, var = float(waiting), 0.0
        # with no answer seen yet there is no ring time to read: each line counts at p
        tracked = self.ringing[-ringing:] if ringing and len(self.ring) else []
        enough = len(self.miss) >= MIN_SAMPLES
        for placed_at in tracked:
            a = p * self.ring.survival(now - placed_at)
            m = (1.0 - p) * (self.miss.survival(now - placed_at) if enough else 1.0)
            q = a / (a + m) if a + m > 0 else 0.0
            mean += q
            var += q * (1.0 - q)
        untracked = ringing - len(tracked)
        return mean + untracked * p, var + untracked * p * (1.0 - p)


def pop_nearest(values: list[float], x: float) -> float | None:
    """Remove and return the value of the sorted ``values`` nearest to ``x``."""
    if not values:
        return None
    i = bisect.bisect_left(values, x)
    if i == len(values) or (i > 0 and x - values[i - 1] <= values[i] - x):
        i -= 1
    return values.pop(i)


def ends_within(dist: Recent, elapsed: float, within: float) -> float:
    """P(D <= elapsed + within | D > elapsed) for the empirical distribution ``dist``; past
    every value seen it is taken as ending now."""
    if within <= 0:
        return 0.0
    alive = dist.survival(elapsed)
    if alive <= 0.0:
        return 1.0
    return (alive - dist.survival(elapsed + within)) / alive
