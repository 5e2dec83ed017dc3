"""The call history pacing reads (acd/dialer/call_history.py): bounded distributions and the
chances computed from them."""

from __future__ import annotations

import pytest

from acd.dialer.call_history import CallHistory, Recent, ends_within, pop_nearest


def test_recent_keeps_the_last_values_sorted_and_forgets_the_oldest() -> None:
    r = Recent(size=4)
    for v in (5.0, 1.0, 9.0, 3.0, 7.0, 2.0):  # 5 and 1 leave
        r.add(v)
    assert len(r) == 4
    assert r.sorted == [2.0, 3.0, 7.0, 9.0]
    assert r.mean() == pytest.approx(21.0 / 4)
    assert r.survival(3.0) == 0.5  # 7 and 9 are above 3
    assert r.survival(10.0) == 0.0
    assert Recent().survival(1.0) == 0.0 and Recent().mean() == 0.0


def test_a_call_past_every_time_seen_ends_now_and_nothing_ends_in_no_time() -> None:
    r = Recent()
    for v in (60.0, 90.0, 120.0, 150.0):
        r.add(v)
    assert ends_within(r, 100.0, 30.0) == pytest.approx(0.5)  # 120 of (120, 150)
    assert ends_within(r, 200.0, 1.0) == 1.0
    assert ends_within(r, 0.0, 0.0) == 0.0
    assert ends_within(r, 0.0, -5.0) == 0.0


def test_pop_nearest_takes_the_closest_value() -> None:
    values = [1.0, 5.0, 9.0]
    assert pop_nearest(values, 6.0) == 5.0
    assert pop_nearest(values, 100.0) == 9.0
    assert pop_nearest(values, -3.0) == 1.0
    assert pop_nearest(values, 0.0) is None


def test_without_ring_times_every_line_in_flight_counts_at_the_answer_rate() -> None:
    h = CallHistory()
    for t in (0.0, 1.0, 2.0):
        h.placed(t)
    mean, var = h.answer_chances(3.0, 3, 0.3)
    assert mean == pytest.approx(0.9)
    assert var == pytest.approx(3 * 0.3 * 0.7)
    # an answered call waiting for an agent takes one for sure
    h.answered(3.0, 3.0)
    mean, _ = h.answer_chances(3.0, 3, 0.3)
    assert mean == pytest.approx(1.0 + 0.6)


def test_the_answer_rate_leans_to_one_half_until_lines_have_ended() -> None:
    h = CallHistory()
    assert h.answer_rate() == 0.5
    for i in range(300):
        h.placed(float(i))
        if i % 10 < 3:
            h.answered(i + 8.0, 8.0)
        else:
            h.unanswered(i + 25.0, "no_answer")
    assert h.answer_rate() == pytest.approx((90 + 5) / 310)
    assert len(h.ringing) == 0
