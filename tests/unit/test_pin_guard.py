"""The desk-phone login guard: wrong PINs lock an agent number for a while."""

from __future__ import annotations

from twisted.internet.task import Clock

from acd.pin_guard import PinGuard


def test_five_wrong_pins_within_the_window_lock_the_number_until_the_lockout_ends() -> None:
    clock = Clock()
    guard = PinGuard(clock.seconds, max_failures=5, window_s=900, lockout_s=600)
    assert [guard.failed("1001") for _ in range(5)] == [False] * 4 + [True]
    assert guard.locked("1001") and not guard.locked("1002")
    clock.advance(599)
    assert guard.locked("1001")
    clock.advance(1)
    assert not guard.locked("1001")


def test_failures_outside_the_window_and_a_success_reset_the_count() -> None:
    clock = Clock()
    guard = PinGuard(clock.seconds, max_failures=3, window_s=60, lockout_s=600)
    guard.failed("1001")
    guard.failed("1001")
    clock.advance(61)
    assert not guard.failed("1001")  # the first two are out of the window
    guard.failed("1001")
    guard.succeeded("1001")
    assert not guard.failed("1001") and not guard.locked("1001")


def test_the_guard_stays_bounded_under_a_flood_of_numbers() -> None:
    guard = PinGuard(Clock().seconds)
    for n in range(20_000):
        guard.failed(str(n))
    assert len(guard._failures) <= 10_001
