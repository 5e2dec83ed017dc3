"""A campaign's abandon rate over the last 24 hours and 30 days, in bounded memory.

The rate the rules speak of (3% in the UK over a day, in the US over 30 days) is abandoned
calls over calls a person answered. Counts go into time buckets (1-minute buckets for the
day, 1-hour buckets for the month: 1,440 + 720 slots whatever the traffic), each window
keeps running totals, and buckets that leave a window are subtracted as time advances, so a
reading is O(1) amortised. After a restart the meter is warm-started from the stored
attempts (``DialerStore.attempt_counts``), spread evenly over each window since only the
totals are known.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from twisted.internet import defer
from twisted.python.failure import Failure

DAY_S = 24 * 3600.0
MONTH_S = 30 * DAY_S


class _Window:
    """``slots`` buckets of ``bucket_s`` seconds in a ring, with running totals."""

    def __init__(self, bucket_s: float, slots: int) -> None:
        self.bucket_s, self.slots = bucket_s, slots
        self._ids = [-1] * slots
        self._answered = [0] * slots
        self._abandoned = [0] * slots
        self.answered = self.abandoned = 0
        self._last: int | None = None

    def _bucket(self, now: float) -> int:
        return math.floor(now / self.bucket_s)

    def advance(self, now: float) -> int:
        """Evict the buckets that left the window; the current bucket's id. A clock that
        steps back stays in the newest bucket (counts are never dropped for it)."""
        b = self._bucket(now)
        if self._last is None:
            self._last = b
        if b <= self._last:
            return self._last
        for old in range(max(self._last + 1, b - self.slots + 1), b + 1):
            i = old % self.slots
            if self._ids[i] != old:
                self.answered -= self._answered[i]
                self.abandoned -= self._abandoned[i]
                self._ids[i], self._answered[i], self._abandoned[i] = old, 0, 0
        self._last = b
        return b

    def add(self, now: float, answered: int, abandoned: int, bucket: int | None = None) -> None:
        current = self.advance(now)
        b = current if bucket is None else bucket
        if b > current or b <= current - self.slots:
            return  # outside the window
        i = b % self.slots
        if self._ids[i] != b:
            self.answered -= self._answered[i]
            self.abandoned -= self._abandoned[i]
            self._ids[i], self._answered[i], self._abandoned[i] = b, 0, 0
        self._answered[i] += answered
        self._abandoned[i] += abandoned
        self.answered += answered
        self.abandoned += abandoned

    def spread(self, now: float, answered: int, abandoned: int, first: int, last: int) -> None:
        """Spread counts evenly over buckets ``first..last`` back from the current one
        (0: the current bucket)."""
        current = self.advance(now)
        n = last - first + 1
        for k in range(n):
            a = answered * (k + 1) // n - answered * k // n
            d = abandoned * (k + 1) // n - abandoned * k // n
            if a or d:
                self.add(now, a, d, bucket=current - first - k)

    def rate(self, now: float) -> float:
        self.advance(now)
        return 100.0 * self.abandoned / self.answered if self.answered else 0.0


class AbandonMeter:
    """One campaign's answered and abandoned counts; rates in percent of answered calls.

    A call counts as answered when a person answered (a machine is not); an abandoned call
    (no agent within 2 s: the safe-harbor message) was answered first, so it counts in both.
    """

    def __init__(self) -> None:
        self._day = _Window(60.0, 1440)
        self._month = _Window(3600.0, 720)

    def answered(self, now: float, count: int = 1) -> None:
        self._day.add(now, count, 0)
        self._month.add(now, count, 0)

    def abandoned(self, now: float, count: int = 1) -> None:
        self._day.add(now, 0, count)
        self._month.add(now, 0, count)

    def warm_start(self, now: float, last_24h: tuple[int, int], last_30d: tuple[int, int]) -> None:
        """Seed from stored attempts, ``(answered, abandoned)`` counted as this meter counts
        them (``DialerStore.attempt_counts``: answered by a person, abandoned among them)
        since ``now`` - 24 h and since ``now`` - 30 days (the 30 days include the day).
        Only totals are stored per window, so each is spread evenly over its window: the
        day's over the day buckets and the last 24 hour buckets, the rest of the month over
        the older hour buckets."""
        day_a, day_d = last_24h
        month_a, month_d = last_30d
        if min(day_a, day_d, month_a, month_d) < 0:
            raise ValueError("counts cannot be negative")
        if day_d > day_a or month_d > month_a:
            raise ValueError("abandoned calls are among the answered ones")
        self._day.spread(now, day_a, day_d, 0, self._day.slots - 1)
        self._month.spread(now, day_a, day_d, 0, 23)
        self._month.spread(
            now, max(0, month_a - day_a), max(0, month_d - day_d), 24, self._month.slots - 1
        )

    def rate_24h(self, now: float) -> float:
        """Percent of the calls answered in the last 24 hours that were abandoned."""
        return self._day.rate(now)

    def rate_30d(self, now: float) -> float:
        """Percent of the calls answered in the last 30 days that were abandoned."""
        return self._month.rate(now)

    def counts_24h(self, now: float) -> tuple[int, int]:
        """``(answered, abandoned)`` over the last 24 hours."""
        self._day.advance(now)
        return self._day.answered, self._day.abandoned

    def counts_30d(self, now: float) -> tuple[int, int]:
        """``(answered, abandoned)`` over the last 30 days."""
        self._month.advance(now)
        return self._month.answered, self._month.abandoned


def warm_from_store(
    meter: AbandonMeter, store: Any, campaign_id: int, now: float
) -> defer.Deferred[None]:
    """Warm-start ``meter`` from ``store.attempt_counts`` (the DialerStore) at ``now``."""
    at = dt.datetime.fromtimestamp(now, dt.UTC)
    day = store.attempt_counts(campaign_id, at - dt.timedelta(seconds=DAY_S))
    month = store.attempt_counts(campaign_id, at - dt.timedelta(seconds=MONTH_S))

    def seed(results: list[tuple[int, int]]) -> None:
        meter.warm_start(now, results[0], results[1])

    d: defer.Deferred[Any] = defer.gatherResults([day, month], consumeErrors=True)
    d.addCallback(seed)
    d.addErrback(_first_error)
    return d


def _first_error(failure: Failure) -> Failure:
    """The store's own error, not gatherResults' FirstError around it."""
    err = failure.value
    if isinstance(err, defer.FirstError):
        inner: Failure = err.subFailure
        return inner
    return failure
