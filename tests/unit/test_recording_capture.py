"""Capture control pieces: the trunk channel number of the index row, the pause clock, and
the recording policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet import defer

from drivers.asterisk.ami.codec import Message
from recorder import policy
from recorder.pause import PauseClock
from recorder.service import channel_number


class Sender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[tuple[str, str]]]] = []

    def send_action(self, action: str, headers: Any = (), timeout: Any = None) -> Any:
        self.sent.append((action, list(headers)))
        return defer.succeed(Message((("Response", "Success"),)))

    def send_list_action(self, action: str, headers: Any = (), timeout: Any = None) -> Any:
        raise AssertionError("not a list action")


def run(coro: Any) -> Any:
    results: list[Any] = []
    defer.ensureDeferred(coro).addBoth(results.append)
    [result] = results
    if hasattr(result, "raiseException"):
        result.raiseException()
    return result


@pytest.mark.parametrize(
    ("channel", "number"),
    [
        ("DAHDI/17-1", 17),
        ("DAHDI/1-3", 1),
        ("DAHDI/30", 30),
        ("PJSIP/trunk-0000001", None),
        ("DAHDI/g1/555", None),
        ("SIP/17-1", None),
        ("", None),
        ("DAHDI/17-1x", None),
    ],
)
def test_channel_number(channel: str, number: int | None) -> None:
    assert channel_number(channel) == number


def test_pause_clock_totals_pauses() -> None:
    clock = PauseClock()
    assert not clock.resume(1.0)  # not paused
    assert clock.pause(10.0) and not clock.pause(11.0)  # twice: the first counts
    assert clock.paused_ms(12.5) == 2500  # an open pause counts up to now
    assert clock.resume(13.0) and not clock.paused
    assert clock.pause(20.0) and clock.resume(20.25)
    assert clock.paused_ms(99.0) == 3250


def test_the_pause_clock_counts_only_the_files_time_from_a_start_at_the_ring() -> None:
    clock = PauseClock()
    assert clock.pause(1.0) and clock.resume(2.0)  # while the caller waited: no file yet
    assert clock.pause(5.0)
    clock.rebase(8.0)  # the capture starts at the ring, paused
    assert clock.paused and clock.paused_ms(9.5) == 1500
    assert clock.resume(10.0) and clock.paused_ms(99.0) == 2000


@dataclass
class Queue:
    record_calls: bool


class Recordings:
    def __init__(self, off: set[str]) -> None:
        self.off, self.asked = off, []

    def did_records(self, number: str) -> Any:
        self.asked.append(number)
        return defer.succeed(number not in self.off)


class DB:
    def __init__(self, off: set[str]) -> None:
        self.recordings = Recordings(off)


def test_policy_needs_both_the_queue_and_the_did() -> None:
    db: Any = DB({"4008009999"})
    assert run(policy.skip_reason(db, Queue(True), "4008001234")) is None
    assert run(policy.skip_reason(db, Queue(True), "4008009999")) == "did_policy"
    assert run(policy.skip_reason(db, Queue(False), "4008001234")) == "queue_policy"
    assert run(policy.skip_reason(db, Queue(True), "")) is None
    assert db.recordings.asked == ["4008001234", "4008009999"]


def test_a_campaigns_call_follows_the_campaigns_policy_alone() -> None:
    db: Any = DB({"4008009999"})
    assert run(policy.skip_reason(db, Queue(False), "", campaign_record="all")) is None
    assert run(policy.skip_reason(db, Queue(True), "", campaign_record="none")) == (
        "campaign_policy"
    )
    assert db.recordings.asked == []
