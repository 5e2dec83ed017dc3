"""XMODEM-1K with CRC-16 as two state machines on the reactor's clock (never blocking).

The sender is the host's half of a flash, the receiver the simulated bootloader's. Each
is fed bytes with ``data_received`` by the serial protocol that owns the line, writes with
the ``write`` callable it is given, and reports the outcome on ``done`` (a Deferred).

Packets: ``STX n ~n <1024 bytes> crc_hi crc_lo`` (``SOH`` and 128 bytes for a short tail),
blocks numbered from 1 modulo 256, padded with 0x1A; the CRC is CRC-16/XMODEM
(``binascii.crc_hqx`` from 0). The receiver starts with ``C``; ``ACK`` takes the next
block, ``NAK`` (or a timeout) resends, at most ``retries`` times a block; ``CAN CAN``
cancels from either side; ``EOT`` ends and is acknowledged. The receiver NAKs after 10 s
of silence, before the sender's own 15 s run out: were both to resend, the receiver would
ACK the repeat and that ACK would pass for the next block's.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import Any

from twisted.internet import defer

SOH, STX, EOT, ACK, NAK, CAN, CRC_MODE = 0x01, 0x02, 0x04, 0x06, 0x15, 0x18, 0x43
PAD = 0x1A
CANCEL = bytes([CAN, CAN])


class XmodemError(Exception):
    """The transfer failed: the text says where and why."""


class XmodemCancelled(XmodemError):
    """One side cancelled (CAN CAN) or the user did."""


def packet(number: int, data: bytes) -> bytes:
    """One block: 1024 bytes with STX, or up to 128 with SOH, padded with 0x1A."""
    size = 128 if len(data) <= 128 else 1024
    if len(data) > size:
        raise ValueError(f"a block holds at most {size} bytes")
    body = data.ljust(size, bytes([PAD]))
    crc = binascii.crc_hqx(body, 0)
    n = number & 0xFF
    return bytes([SOH if size == 128 else STX, n, 0xFF - n]) + body + crc.to_bytes(2, "big")


def blocks(data: bytes) -> list[bytes]:
    """``data`` cut into 1024-byte blocks; a tail of 128 bytes or less goes in one SOH block."""
    out = [data[i : i + 1024] for i in range(0, len(data), 1024)]
    return out or [b""]


class _Timed:
    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._timer: Any = None

    def _arm(self, seconds: float, fn: Callable[[], None]) -> None:
        self._disarm()
        self._timer = self._clock.callLater(seconds, fn)

    def _disarm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None


class XmodemSender(_Timed):
    """Sends ``data``; ``done`` fires with the number of bytes sent, or fails with an
    XmodemError (after ``CAN CAN`` is written when the failure is ours)."""

    def __init__(
        self,
        clock: Any,
        write: Callable[[bytes], None],
        data: bytes,
        *,
        start_timeout: float = 30.0,
        block_timeout: float = 15.0,
        retries: int = 10,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__(clock)
        self._write = write
        self._data = data
        self._blocks = blocks(data)
        self._start_timeout = start_timeout
        self._block_timeout = block_timeout
        self._retries = retries
        self._progress = progress
        self._index = 0  # the block being sent (0-based; its number is index + 1)
        self._tries = 0
        self._last_can = False
        self.state = "idle"  # idle, handshake, block, eot, done
        self.done: defer.Deferred[int] = defer.Deferred()

    def start(self) -> None:
        self.state = "handshake"
        self._arm(self._start_timeout, self._handshake_timeout)

    def data_received(self, data: bytes) -> bytes:
        """Take the transfer's bytes; returns what came after its end (the board's next
        line), for the line protocol that owns the port."""
        for i, byte in enumerate(data):
            if self.state == "done":
                return data[i:]
            if byte == CAN:
                if self._last_can:
                    self._finish(XmodemCancelled("the board cancelled the transfer (CAN CAN)"))
                    return data[i + 1 :]
                self._last_can = True
                continue
            self._last_can = False
            if self.state == "handshake":
                if byte == CRC_MODE:
                    self.state = "block"
                    self._send_block()
            elif self.state == "block":
                if byte == ACK:
                    self._index += 1
                    self._tries = 0
                    if self._index == len(self._blocks):
                        self.state = "eot"
                        self._send_eot()
                    else:
                        self._send_block()
                    if self._progress is not None:  # last: it may cancel the transfer
                        self._progress(min(self._index * 1024, len(self._data)), len(self._data))
                elif byte == NAK:
                    self._retry()
            elif self.state == "eot":
                if byte == ACK:
                    self._finish(len(self._data))
                elif byte == NAK:
                    self._retry()
        return b""

    def cancel(self, why: str = "cancelled") -> None:
        """Stop now: ``CAN CAN`` to the board, ``done`` fails with XmodemCancelled."""
        if self.state != "done":
            self._write(CANCEL)
            self._finish(XmodemCancelled(why))

    def lost(self, why: str) -> None:
        """The line went away: fail without writing anything."""
        if self.state != "done":
            self._finish(XmodemError(why))

    # Timers are armed before writing: a write may answer at once (and end the transfer).

    def _send_block(self) -> None:
        self._arm(self._block_timeout, self._retry)
        self._write(packet(self._index + 1, self._blocks[self._index]))

    def _send_eot(self) -> None:
        self._arm(self._block_timeout, self._retry)
        self._write(bytes([EOT]))

    def _retry(self) -> None:
        self._tries += 1
        if self._tries > self._retries:
            what = "the end of the transfer" if self.state == "eot" else f"block {self._index + 1}"
            self._write(CANCEL)
            self._finish(XmodemError(f"{what}: not acknowledged after {self._retries} retries"))
        elif self.state == "eot":
            self._send_eot()
        else:
            self._send_block()

    def _handshake_timeout(self) -> None:
        self._write(CANCEL)
        why = f"the board did not start the transfer in {self._start_timeout:g} s"
        self._finish(XmodemError(why))

    def _finish(self, result: int | Exception) -> None:
        self.state = "done"
        self._disarm()
        if isinstance(result, Exception):
            self.done.errback(result)
        else:
            self.done.callback(result)


class XmodemReceiver(_Timed):
    """Receives into ``sink(offset, block)``; ``done`` fires with the bytes received
    (padding included) or fails with an XmodemError."""

    def __init__(
        self,
        clock: Any,
        write: Callable[[bytes], None],
        sink: Callable[[int, bytes], None],
        *,
        max_bytes: int,
        timeout: float = 10.0,
        handshake_interval: float = 1.0,
        retries: int = 10,
    ) -> None:
        super().__init__(clock)
        self._write = write
        self._sink = sink
        self._max = max_bytes
        self._timeout = timeout
        self._interval = handshake_interval
        self._retries = retries
        self._buffer = bytearray()
        self._expected = 1
        self._received = 0
        self._errors = 0
        self.reject_blocks = False  # a test's line noise: every packet NAKed
        self.state = "idle"  # idle, handshake, receiving, done
        self.done: defer.Deferred[int] = defer.Deferred()

    def start(self) -> None:
        self.state = "handshake"
        self._ask()

    def cancel(self, why: str = "cancelled") -> None:
        if self.state != "done":
            self._write(CANCEL)
            self._finish(XmodemCancelled(why))

    def lost(self, why: str) -> None:
        """The line went away: fail without writing anything."""
        if self.state != "done":
            self._finish(XmodemError(why))

    def data_received(self, data: bytes) -> None:
        if self.state == "done":
            return
        self._buffer += data
        while self._buffer and self.state != "done":
            first = self._buffer[0]
            if first in (SOH, STX):
                size = 128 if first == SOH else 1024
                if len(self._buffer) < size + 5:
                    self._arm(self._timeout, self._stalled)
                    return
                raw = bytes(self._buffer[: size + 5])
                del self._buffer[: size + 5]
                if self.state == "handshake":
                    self._errors = 0  # the C's asked are not bad packets
                self.state = "receiving"
                self._packet(raw, size)
            elif first == EOT:
                del self._buffer[0]
                if self.state == "receiving":
                    self._write(bytes([ACK]))
                    self._finish(self._received)
            elif first == CAN:
                if len(self._buffer) < 2:
                    return
                if self._buffer[1] == CAN:
                    self._finish(XmodemCancelled("the sender cancelled the transfer (CAN CAN)"))
                    return
                del self._buffer[0]
            else:
                del self._buffer[0]  # line noise between packets

    def _packet(self, raw: bytes, size: int) -> None:
        number, complement, body = raw[1], raw[2], raw[3 : 3 + size]
        crc = int.from_bytes(raw[3 + size :], "big")
        if self.reject_blocks or number + complement != 0xFF or binascii.crc_hqx(body, 0) != crc:
            self._error()
            return
        if self._expected > 1 and number == (self._expected - 1) & 0xFF:
            self._write(bytes([ACK]))  # a repeat of the block we have: our ACK was lost
            return  # (before block 1 there is none: a block 0 is out of sequence)
        if number != self._expected & 0xFF:
            self._write(CANCEL)
            expected = self._expected & 0xFF
            self._finish(XmodemError(f"block {number} out of sequence (expected {expected})"))
            return
        if self._received + size > self._max:
            self._write(CANCEL)
            self._finish(XmodemError(f"more than {self._max} bytes"))
            return
        offset = self._received
        self._received += size
        self._expected += 1
        self._errors = 0
        self._sink(offset, body)
        self._arm(self._timeout, self._stalled)
        self._write(bytes([ACK]))

    def _ask(self) -> None:
        if self.state != "handshake":
            return
        self._errors += 1
        if self._errors > self._retries:
            self._write(CANCEL)
            self._finish(XmodemError("the sender never started"))
            return
        self._arm(self._interval, self._ask)
        self._write(bytes([CRC_MODE]))

    def _stalled(self) -> None:
        self._buffer.clear()
        self._error()

    def _error(self) -> None:
        self._errors += 1
        if self._errors > self._retries:
            self._write(CANCEL)
            self._finish(XmodemError(f"{self._retries} bad packets in a row"))
            return
        self._arm(self._timeout, self._stalled)
        self._write(bytes([NAK]))

    def _finish(self, result: int | Exception) -> None:
        self.state = "done"
        self._disarm()
        self._buffer.clear()
        if isinstance(result, Exception):
            self.done.errback(result)
        else:
            self.done.callback(result)
