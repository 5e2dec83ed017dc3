"""The abandon meter (acd/dialer/abandon.py): 24-hour and 30-day windows that roll, a warm
start from the stored attempts, bounded memory."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from twisted.internet.defer import Deferred, fail
from twisted.python.failure import Failure

from acd.dialer.abandon import DAY_S, AbandonMeter, warm_from_store
from appliance.cli import resolved
from appliance.db import model
from appliance.db.connector import DBConnector

T0 = 1_780_000_000.0  # a Thursday in 2026, 22:26 UTC
HOUR = 3600.0


def calls(meter: AbandonMeter, now: float, answered: int, abandoned: int) -> None:
    for _ in range(answered):
        meter.answered(now)
    for _ in range(abandoned):
        meter.abandoned(now)


def test_the_rate_is_abandoned_over_answered_in_percent() -> None:
    m = AbandonMeter()
    assert (m.rate_24h(T0), m.rate_30d(T0)) == (0.0, 0.0)  # nothing answered: no rate
    calls(m, T0, 200, 6)
    assert m.rate_24h(T0) == pytest.approx(3.0)
    assert m.rate_30d(T0) == pytest.approx(3.0)
    assert m.counts_24h(T0) == (200, 6)


def test_the_day_window_rolls_by_the_minute_and_the_month_by_the_hour() -> None:
    m = AbandonMeter()
    calls(m, T0, 100, 10)  # a bad morning
    calls(m, T0 + 12 * HOUR, 100, 0)
    assert m.rate_24h(T0 + 12 * HOUR) == pytest.approx(5.0)
    # a day and a minute after the bad morning, only the afternoon is in the day's window
    later = T0 + DAY_S + 60
    assert m.counts_24h(later) == (100, 0)
    assert m.rate_24h(later) == 0.0
    assert m.counts_30d(later) == (200, 10)  # the month still has both
    # 30 days and an hour on, the morning left the month too; a day more, everything
    assert m.counts_30d(T0 + 30 * DAY_S + HOUR) == (100, 0)
    assert m.counts_30d(T0 + 31 * DAY_S + HOUR) == (0, 0)
    assert m.rate_30d(T0 + 31 * DAY_S + HOUR) == 0.0


def test_the_windows_keep_to_their_edges() -> None:
    m = AbandonMeter()
    calls(m, T0, 10, 1)
    assert m.counts_24h(T0 + DAY_S - 61) == (10, 1)  # 23 h 58 m on: still in
    assert m.counts_24h(T0 + DAY_S + 61) == (0, 0)


def test_memory_is_bounded_whatever_the_traffic() -> None:
    m = AbandonMeter()
    for minute in range(0, 60 * 24 * 45, 7):  # 45 days, a call every 7 minutes
        calls(m, T0 + minute * 60, 1, minute % 2)
    for window, slots in ((m._day, 1440), (m._month, 720)):
        assert len(window._ids) == len(window._answered) == len(window._abandoned) == slots
    now = T0 + (60 * 24 * 45 - 7) * 60
    answered, abandoned = m.counts_24h(now)
    assert answered == pytest.approx(24 * 60 / 7, abs=1)
    assert abandoned == pytest.approx(answered / 2, abs=1)


def test_a_clock_that_steps_back_loses_no_count() -> None:
    m = AbandonMeter()
    calls(m, T0, 10, 0)
    calls(m, T0 - 300, 10, 1)  # NTP stepped the clock back 5 minutes
    assert m.counts_24h(T0) == (20, 1)
    assert m.counts_30d(T0) == (20, 1)


def test_a_warm_start_spreads_the_stored_totals_over_each_window() -> None:
    m = AbandonMeter()
    # as the store counts them: 600 answered by a person in the last day, 24 of them
    # abandoned (4%); 3,000 and 120 over the month (the day's included)
    m.warm_start(T0, (600, 24), (3000, 120))
    assert m.counts_24h(T0) == (600, 24)
    assert m.rate_24h(T0) == pytest.approx(4.0)
    assert m.counts_30d(T0) == (3000, 120)
    # spread evenly: half a day later half the day's calls have left its window
    answered, abandoned = m.counts_24h(T0 + 12 * HOUR)
    assert answered == pytest.approx(300, abs=2)
    assert abandoned == pytest.approx(12, abs=1)
    # and the month loses its oldest share first, not the day's
    assert m.counts_30d(T0 + 12 * HOUR)[0] == pytest.approx(3000 - 2400 * 12 / 696, abs=3)
    with pytest.raises(ValueError, match="negative"):
        m.warm_start(T0, (-1, 0), (0, 0))
    with pytest.raises(ValueError, match="among the answered"):
        m.warm_start(T0, (5, 6), (5, 6))


def test_the_warm_start_reads_the_real_store(db: DBConnector) -> None:
    now = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
    with db.engine.begin() as conn:
        pk = conn.execute(
            model.queues.insert().values(name="sales", created_at=now)
        ).inserted_primary_key
    assert pk is not None
    queue_id = int(pk[0])
    cid = resolved(db.dialer.create_campaign("survey", queue_id, now=now)).id
    for i, (outcome, age_h) in enumerate(
        [("answered", 1)] * 30 + [("abandoned", 2)] * 2 + [("abandoned", 48), ("no_answer", 1)]
    ):
        a = resolved(db.dialer.start_attempt(cid, None, f"c{i}", now - dt.timedelta(hours=age_h)))
        resolved(db.dialer.finish_attempt(a, outcome, now))
    m = AbandonMeter()
    resolved(warm_from_store(m, db.dialer, cid, now.timestamp()))
    assert m.counts_24h(now.timestamp()) == (32, 2)
    assert m.counts_30d(now.timestamp()) == (33, 3)
    assert m.rate_30d(now.timestamp()) == pytest.approx(100 * 3 / 33)


def test_a_failed_read_fails_the_warm_start_with_the_store_error() -> None:
    class Down:
        def attempt_counts(self, campaign_id: int, since: dt.datetime) -> Deferred[Any]:
            return fail(RuntimeError("database is locked"))

    m = AbandonMeter()
    d = warm_from_store(m, Down(), 1, T0)
    errors: list[Failure] = []
    d.addErrback(errors.append)
    assert len(errors) == 1 and errors[0].check(RuntimeError)
    assert m.counts_30d(T0) == (0, 0)
