"""The caller's co-browsing codes: 6 digits, good for code_minutes, used once, and guessing
bounded per address and box-wide so the 10^6 codes cannot be walked while one is valid."""

from __future__ import annotations

import pytest
from twisted.internet.testing import MemoryReactorClock

from webui.cobrowse import codes
from webui.cobrowse.codes import CodeBook, CodeError


def book(minutes: int = 10) -> tuple[MemoryReactorClock, CodeBook]:
    clock = MemoryReactorClock()
    return clock, CodeBook(clock.seconds, minutes)


def wrong(issued: str) -> str:
    return f"{(int(issued) + 1) % codes.SPACE:06d}"


def test_a_code_is_six_digits_and_names_its_agent_once() -> None:
    _clock, b = book()
    issued = b.issue(7, "李娜")
    assert len(issued.code) == 6 and issued.code.isdigit()
    got = b.redeem(issued.code, "10.0.0.1")
    assert (got.agent_id, got.agent_name) == (7, "李娜")
    with pytest.raises(CodeError) as refused:  # single use
        b.redeem(issued.code, "10.0.0.1")
    assert refused.value.status == 400


def test_a_code_expires_after_code_minutes() -> None:
    clock, b = book(minutes=2)
    issued = b.issue(7, "a")
    clock.advance(119)
    second = b.issue(8, "b")
    clock.advance(2)  # the first is 121 s old
    with pytest.raises(CodeError):
        b.redeem(issued.code, "10.0.0.1")
    assert b.redeem(second.code, "10.0.0.2").agent_id == 8


def test_a_new_code_replaces_the_agents_previous_one() -> None:
    _clock, b = book()
    first = b.issue(7, "a")
    second = b.issue(7, "a")
    with pytest.raises(CodeError):
        b.redeem(first.code, "10.0.0.1")
    assert b.redeem(second.code, "10.0.0.1").agent_id == 7


@pytest.mark.parametrize("text", ["", "12345", "1234567", "١٢٣٤٥٦", "12 456", "abcdef"])
def test_malformed_codes_are_wrong(text: str) -> None:
    _clock, b = book()
    b.issue(7, "a")
    with pytest.raises(CodeError) as refused:
        b.redeem(text, "10.0.0.9")
    assert refused.value.status == 400


def test_an_address_is_locked_after_its_wrong_guesses_even_for_the_right_code() -> None:
    clock, b = book(minutes=30)
    issued = b.issue(7, "a")
    for _ in range(codes.PER_ADDRESS_FAILURES):
        with pytest.raises(CodeError):
            b.redeem(wrong(issued.code), "10.0.0.1")
        clock.advance(10)  # slow enough for the global budget
    with pytest.raises(CodeError) as locked:
        b.redeem(issued.code, "10.0.0.1")
    assert locked.value.status == 429
    # another address is not locked by it
    assert b.redeem(issued.code, "10.0.0.2").agent_id == 7


def test_the_whole_box_takes_only_a_few_wrong_guesses_a_minute() -> None:
    _clock, b = book()
    issued = b.issue(7, "a")
    for n in range(codes.GLOBAL_FAILURES_PER_MIN):  # each from a fresh address (a botnet)
        with pytest.raises(CodeError):
            b.redeem(wrong(issued.code), f"10.1.{n // 250}.{n % 250}")
    with pytest.raises(CodeError) as locked:
        b.redeem(issued.code, "10.9.9.9")
    assert locked.value.status == 429


def test_brute_force_cannot_cover_the_code_space_within_the_validity() -> None:
    # an attacker with unlimited addresses guessing as fast as it can for one validity
    clock, b = book(minutes=10)
    issued = b.issue(7, "a")
    evaluated = 0
    guess = 0
    address = 0
    while clock.seconds() < 500:
        for _ in range(50):  # 50 tries a second, each from a new address
            address += 1
            candidate = f"{guess:06d}"
            guess += 1
            if candidate == issued.code:
                continue  # the attacker does not know it: count only wrong ones
            try:
                b.redeem(candidate, f"addr-{address}")
            except CodeError as exc:
                if exc.status == 400:
                    evaluated += 1
        clock.advance(1)
    assert evaluated <= codes.GLOBAL_FAILURES_PER_MIN * 10
    assert evaluated / codes.SPACE < 0.001  # well under a thousandth of the space
    # during the attack a real caller waits; a minute after it, the code works
    with pytest.raises(CodeError) as waiting:
        b.redeem(issued.code, "the-caller")
    assert waiting.value.status == 429
    clock.advance(61)
    assert b.redeem(issued.code, "the-caller").agent_id == 7


def test_memory_of_addresses_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codes, "MAX_ADDRESSES", 100)
    monkeypatch.setattr(codes, "GLOBAL_FAILURES_PER_MIN", 10**9)
    _clock, b = book()
    for n in range(1000):
        with pytest.raises(CodeError):
            b.redeem("000000", f"a{n}")
    assert len(b._address_failures) <= 100
