"""XMODEM-1K/CRC: both state machines wired together on a task.Clock the test drives."""

from __future__ import annotations

import binascii
from collections.abc import Callable

from twisted.internet import task
from twisted.python.failure import Failure

from firmware_tools import xmodem as xm


def test_the_crc_is_crc16_xmodem_and_packets_are_framed() -> None:
    assert binascii.crc_hqx(b"123456789", 0) == 0x31C3  # the CRC-16/XMODEM check value
    p = xm.packet(1, b"abc")
    assert p[:3] == bytes([xm.SOH, 1, 254]) and len(p) == 3 + 128 + 2
    assert p[3:131] == b"abc" + bytes([xm.PAD]) * 125
    assert int.from_bytes(p[-2:], "big") == binascii.crc_hqx(p[3:131], 0)
    big = xm.packet(256, bytes(1000))
    assert big[:3] == bytes([xm.STX, 0, 255]) and len(big) == 3 + 1024 + 2


class Wire:
    """A sender and a receiver on one clock; ``tamper`` may change or drop what the sender
    writes (None: lost on the line)."""

    def __init__(
        self,
        data: bytes,
        tamper: Callable[[bytes], bytes | None] = lambda b: b,
        receiver_retries: int = 10,
    ) -> None:
        self.clock = task.Clock()
        self.flash = bytearray()
        self.to_receiver: list[bytes] = []
        self.to_sender: list[bytes] = []
        self.tamper = tamper
        self.sender = xm.XmodemSender(self.clock, self._from_sender, data)
        self.receiver = xm.XmodemReceiver(
            self.clock,
            self._from_receiver,
            self._store,
            max_bytes=1 << 20,
            retries=receiver_retries,
        )
        self.results: dict[str, object] = {}
        self.sender.done.addBoth(self._keep, "sent")
        self.receiver.done.addBoth(self._keep, "received")

    def _keep(self, result: object, name: str) -> None:
        self.results[name] = result

    def _store(self, offset: int, block: bytes) -> None:
        assert offset == len(self.flash)
        self.flash += block

    # The line delivers on the next turn of the clock, as a serial port does.

    def _from_sender(self, data: bytes) -> None:
        changed = self.tamper(data)
        if changed is not None:
            self.clock.callLater(0, self.receiver.data_received, changed)

    def _from_receiver(self, data: bytes) -> None:
        self.clock.callLater(0, self.sender.data_received, data)

    def run(self) -> None:
        self.sender.start()
        self.receiver.start()
        for _ in range(2000):
            if "sent" in self.results and "received" in self.results:
                return
            self.clock.advance(0.1)


def test_a_transfer_pads_the_last_block_and_ends_with_eot() -> None:
    data = bytes(range(256)) * 9 + b"tail"  # 2308 bytes: 2 STX blocks + 260 in a third
    wire = Wire(data)
    wire.run()
    assert wire.results == {"sent": len(data), "received": 3072}
    assert wire.flash[: len(data)] == data and set(wire.flash[len(data) :]) == {xm.PAD}
    short = Wire(b"x" * 1100)  # 1024 + 76: the tail goes in one 128-byte SOH block
    short.run()
    assert short.results["received"] == 1024 + 128


def test_a_corrupted_or_lost_block_is_sent_again() -> None:
    seen: list[int] = []

    def flaky(data: bytes) -> bytes | None:
        if data[0] == xm.STX:
            seen.append(data[1])
            if seen.count(data[1]) == 1 and data[1] == 1:
                return data[:10] + bytes([data[10] ^ 1]) + data[11:]  # bad CRC: NAK
            if seen.count(data[1]) == 1 and data[1] == 2:
                return None  # lost: the sender's timeout resends it
        return data

    data = bytes(3000)
    wire = Wire(data, flaky)
    wire.run()
    assert wire.results == {"sent": 3000, "received": 3072}
    assert seen == [1, 1, 2, 2, 3]


def test_a_lost_ack_makes_a_duplicate_the_receiver_acks_and_drops() -> None:
    wire = Wire(bytes(2048))
    wire.sender.start()
    wire.receiver.start()  # C
    wire.clock.advance(0)
    wire.clock.advance(0)  # block 1 is in
    wire.receiver.data_received(xm.packet(1, bytes(1024)))  # the same block 1 once more
    for _ in range(20):
        wire.clock.advance(0)
    assert wire.results == {"sent": 2048, "received": 2048}
    assert len(wire.flash) == 2048


def test_no_ack_ten_times_cancels_with_can_can() -> None:
    clock = task.Clock()
    written: list[bytes] = []
    sender = xm.XmodemSender(clock, written.append, b"data", block_timeout=15)
    failures: list[Failure] = []
    sender.done.addErrback(failures.append)
    sender.start()
    sender.data_received(b"C")
    for _ in range(10):
        clock.advance(15)
    assert not failures and len(written) == 11  # the block and its 10 retries
    clock.advance(15)
    assert written[-1] == xm.CANCEL
    assert "block 1: not acknowledged after 10 retries" in str(failures[0].value)
    assert not clock.getDelayedCalls()


def test_a_receiver_that_never_starts_times_the_sender_out() -> None:
    clock = task.Clock()
    written: list[bytes] = []
    sender = xm.XmodemSender(clock, written.append, b"data", start_timeout=30)
    failures: list[Failure] = []
    sender.done.addErrback(failures.append)
    sender.start()
    sender.data_received(bytes([xm.NAK]))  # checksum mode: not ours, still waiting for C
    clock.advance(30)
    assert written == [xm.CANCEL]
    assert "did not start the transfer in 30 s" in str(failures[0].value)


def test_a_nak_storm_ends_in_a_cancel_both_sides_see() -> None:
    blocks: list[int] = []

    def watch(data: bytes) -> bytes:
        blocks.append(data[0])
        return data

    wire = Wire(bytes(4096), watch, receiver_retries=100)
    wire.receiver.reject_blocks = True
    wire.run()
    sent, received = wire.results["sent"], wire.results["received"]
    assert isinstance(sent, Failure) and isinstance(received, Failure)
    assert "block 1: not acknowledged after 10 retries" in str(sent.value)
    assert blocks == [xm.STX] * 11 + [xm.CAN]  # the block, 10 retries, CAN CAN
    assert received.check(xm.XmodemCancelled)
    assert wire.flash == b""


def test_can_can_from_the_receiver_cancels_the_sender() -> None:
    clock = task.Clock()
    sender = xm.XmodemSender(clock, lambda b: None, bytes(2048))
    failures: list[Failure] = []
    sender.done.addErrback(failures.append)
    sender.start()
    assert sender.data_received(b"C") == b""
    assert sender.data_received(bytes([xm.CAN, 0])) == b""  # one CAN alone is line noise
    assert not failures
    assert sender.data_received(bytes([xm.CAN, xm.CAN]) + b"OK\r\n") == b"OK\r\n"
    assert failures[0].check(xm.XmodemCancelled)


def test_a_block_out_of_sequence_cancels_the_receiver() -> None:
    clock = task.Clock()
    written: list[bytes] = []
    receiver = xm.XmodemReceiver(clock, written.append, lambda o, b: None, max_bytes=4096)
    failures: list[Failure] = []
    receiver.done.addErrback(failures.append)
    receiver.start()
    receiver.data_received(b"noise" + xm.packet(3, b"x"))
    assert written == [b"C", xm.CANCEL]
    assert "block 3 out of sequence (expected 1)" in str(failures[0].value)
    # a block 0 first is no repeat of a block received (there is none yet): not ACKed
    first: list[bytes] = []
    receiver = xm.XmodemReceiver(clock, first.append, lambda o, b: None, max_bytes=4096)
    receiver.done.addErrback(failures.append)
    receiver.start()
    receiver.data_received(xm.packet(0, b"x"))
    assert first == [b"C", xm.CANCEL]
    assert "block 0 out of sequence (expected 1)" in str(failures[1].value)


def test_the_receiver_refuses_more_than_it_can_hold() -> None:
    clock = task.Clock()
    written: list[bytes] = []
    receiver = xm.XmodemReceiver(clock, written.append, lambda o, b: None, max_bytes=1024)
    failures: list[Failure] = []
    receiver.done.addErrback(failures.append)
    receiver.start()
    receiver.data_received(xm.packet(1, bytes(1024)) + xm.packet(2, b"more"))
    assert written[-1] == xm.CANCEL and "more than 1024 bytes" in str(failures[0].value)
