"""Local midnight starts a new day of queue and agent counters ("service level today")."""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterator

import pytest
from twisted.internet import task

from acd.day_rollover import DayRollover, seconds_to_midnight
from acd.stats import QueueStats


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def utc(*when: int) -> float:
    return float(calendar.timegm((*when, 0, 0, 0)))


def test_seconds_to_the_next_local_midnight(shanghai: None) -> None:
    # 23:59 in Shanghai is 15:59 UTC
    assert seconds_to_midnight(utc(2026, 12, 2, 15, 59, 0)) == 60
    # just after midnight: a whole day to the next one
    assert seconds_to_midnight(utc(2026, 12, 2, 16, 0, 1)) == 86399


def test_a_day_with_a_clock_change_is_shorter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        # noon on 2026-03-08 (clocks went forward at 02:00 that night): 12 h to midnight
        assert seconds_to_midnight(utc(2026, 3, 8, 16, 0, 0)) == 12 * 3600
        # noon on 2026-03-07: 12 h, and the night after is 23 h long
        assert seconds_to_midnight(utc(2026, 3, 7, 17, 0, 0)) == 12 * 3600
        assert seconds_to_midnight(utc(2026, 3, 8, 5, 0, 0)) == 23 * 3600
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_rollover_fires_at_every_midnight(shanghai: None) -> None:
    clock = task.Clock()
    clock.advance(utc(2026, 12, 2, 15, 0, 0))  # 23:00 local
    days: list[float] = []
    roll = DayRollover(clock, lambda: days.append(clock.seconds()))
    roll.start()
    clock.advance(3599)
    assert days == []
    clock.advance(1)
    assert days == [utc(2026, 12, 2, 16, 0, 0)]
    clock.advance(86400)
    assert days[1] == utc(2026, 12, 3, 16, 0, 0)
    roll.stop()
    clock.advance(86400 * 2)
    assert len(days) == 2


def test_a_failing_new_day_does_not_stop_the_next(shanghai: None) -> None:
    clock = task.Clock()
    clock.advance(utc(2026, 12, 2, 15, 59, 0))
    calls: list[int] = []

    def new_day() -> None:
        calls.append(1)
        raise RuntimeError("boom")

    DayRollover(clock, new_day).start()
    clock.advance(60)
    clock.advance(86400)
    assert len(calls) == 2


def test_a_new_day_clears_the_counters_but_not_the_callers_waiting() -> None:
    s = QueueStats(1, "support", 20)
    s.offered, s.overflowed, s.callbacks, s.talk_s = 5, 1, 1, 300.0
    s.answer(10)
    s.abandon(30)
    s.waiting, s.longest_wait_s = 2, 45.0
    s.new_day()
    fresh = QueueStats(1, "support", 20)
    fresh.waiting, fresh.longest_wait_s = 2, 45.0
    assert s.snapshot() == fresh.snapshot()
