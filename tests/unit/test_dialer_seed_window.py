"""The test campaigns' "open all week" window (tests/support/dialer_seed.py) is open at any
hour a test may run: the window closes for its last minute, 23:59 to midnight, and in the
product's default zone that minute is 15:59 UTC, when a CI run's campaign never dialed."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from acd.dialer.windows import CallingWindow
from tests.support.dialer_seed import open_all_week


@pytest.mark.parametrize("hour", range(24))
def test_the_seeded_window_is_open_for_the_next_hour_whenever_a_test_starts(hour: int) -> None:
    start = dt.datetime(2026, 12, 7, hour, 0, tzinfo=dt.UTC)
    for minute in (0, 30, 59):
        now = start + dt.timedelta(minutes=minute)
        window = CallingWindow.from_campaign(SimpleNamespace(**open_all_week(now)))
        # a test's whole run, even a slow one, is inside the window
        for later in (0, 30, 60):
            assert window.is_open(now + dt.timedelta(minutes=later)), (now, later)


def test_the_product_default_zone_closes_the_same_window_at_15_59_utc() -> None:
    """Why the seed picks its own zone (the product's window itself is as documented)."""
    row = SimpleNamespace(**{**open_all_week(), "default_tz": "Asia/Shanghai"})
    window = CallingWindow.from_campaign(row)
    assert not window.is_open(dt.datetime(2026, 12, 7, 15, 59, 30, tzinfo=dt.UTC))
    assert window.is_open(dt.datetime(2026, 12, 7, 16, 0, 0, tzinfo=dt.UTC))
