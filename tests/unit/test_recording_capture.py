"""Capture control pieces: the AMI MixMonitor action's allowlist, the trunk channel number of
the index row, the pause clock, and the recording policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet import defer

from drivers.asterisk.ami import actions
from drivers.asterisk.ami.actions import BadActionValue
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


def test_mixmonitor_sends_literal_legs_and_never_a_command() -> None:
    ami = Sender()
    legs = "/var/lib/ccbox/recordings/legs/2026/12/02/call7-1795353000.12"
    run(
        actions.mixmonitor(
            ami, "DAHDI/17-1", f"{legs}-mix.wav", f"{legs}-rx.ulaw", f"{legs}-tx.ulaw"
        )
    )
    [(name, headers)] = ami.sent
    assert name == "MixMonitor"
    assert headers == [
        ("Channel", "DAHDI/17-1"),
        ("File", f"{legs}-mix.wav"),
        ("Options", f"br({legs}-rx.ulaw)t({legs}-tx.ulaw)"),
    ]
    assert "Command" not in dict(headers)


@pytest.mark.parametrize(
    "path",
    [
        "relative/x.ulaw",
        "/rec/../etc/passwd",
        "/rec/./x.ulaw",
        "/rec/${UNIQUEID}.ulaw",
        "/rec/x.ulaw)t(/etc/x",
        "/rec/x,b.ulaw",
        "/rec/x y.ulaw",
        "/rec/x\r\nCommand: rm.ulaw",
        "/rec/$(reboot).ulaw",
        "/" + "a" * 200,
    ],
)
def test_mixmonitor_refuses_odd_paths(path: str) -> None:
    ami = Sender()
    for args in (
        (path, "/r/rx.ulaw", "/r/tx.ulaw"),
        ("/r/m.wav", path, "/r/tx.ulaw"),
        ("/r/m.wav", "/r/rx.ulaw", path),
    ):
        with pytest.raises(BadActionValue):
            run(actions.mixmonitor(ami, "DAHDI/17-1", *args))
    assert ami.sent == []


def test_mixmonitor_refuses_odd_channels() -> None:
    with pytest.raises(BadActionValue):
        run(actions.mixmonitor(Sender(), "DAHDI/1&PJSIP/2", "/r/m.wav", "/r/rx.ulaw", "/r/tx.ulaw"))


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
