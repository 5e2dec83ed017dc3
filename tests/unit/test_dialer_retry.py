"""The retry schedule (acd/dialer/retry.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from acd.dialer.retry import next_attempt

NOW = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def minutes_after(t: dt.datetime | None) -> float | None:
    return None if t is None else (t - NOW).total_seconds() / 60


@pytest.mark.parametrize(
    ("outcome", "minutes"),
    [
        ("no_answer", 60),
        ("busy", 10),
        ("congestion", 5),
        ("machine", 240),
        ("callback", 0),
        ("abandoned", 60),  # like no answer
        ("failed", 5),  # like congestion
    ],
)
def test_the_defaults_of_the_contract(outcome: str, minutes: int) -> None:
    assert minutes_after(next_attempt(outcome, 1, 3, None, NOW)) == minutes
    assert minutes_after(next_attempt(outcome, 1, 3, {}, NOW)) == minutes


def test_the_campaigns_minutes_win_and_missing_ones_default() -> None:
    mine = {"busy": 2, "no_answer": 30}
    assert minutes_after(next_attempt("busy", 1, 3, mine, NOW)) == 2
    assert minutes_after(next_attempt("no_answer", 1, 3, mine, NOW)) == 30
    assert minutes_after(next_attempt("abandoned", 1, 3, mine, NOW)) == 30
    assert minutes_after(next_attempt("machine", 1, 3, mine, NOW)) == 240


def test_the_lead_is_finished_at_max_attempts_or_a_final_outcome() -> None:
    assert next_attempt("busy", 2, 3, None, NOW) is not None
    assert next_attempt("busy", 3, 3, None, NOW) is None
    assert next_attempt("no_answer", 5, 3, None, NOW) is None
    assert next_attempt("answered", 1, 3, None, NOW) is None
    assert next_attempt("dnc", 1, 3, None, NOW) is None
    # a callback the customer asked for is kept past the maximum
    assert next_attempt("callback", 3, 3, {"callback": 15}, NOW) == NOW + dt.timedelta(minutes=15)


def test_an_unknown_outcome_is_an_error_not_a_silent_retry() -> None:
    with pytest.raises(ValueError, match="unknown retry outcome hungup"):
        next_attempt("hungup", 1, 3, None, NOW)
