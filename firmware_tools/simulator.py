"""A simulated board: the bootloader of docs/firmware.md on the far end of a pseudo-terminal.

``BoardState`` is the board's non-volatile part (flash, the valid-image record, the
commands it was sent, for tests to read): it outlives a ``SimulatedBoard``, which is one
power-on on one ``PtyLink``. A board powers on into its application when the state holds a
valid image, else into the bootloader; ERASE clears the valid record first, so a cut at any
point before COMMIT leaves a board that powers on into the bootloader and takes a new flash.
The version last committed is kept apart and survives ERASE (INFO's ``committed=``), so the
host still refuses an older image on a board whose last flash was cut.
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFDSet
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from drivers.serial.sim.pty import PtyLink
from firmware_tools.image import Version
from firmware_tools.xmodem import XmodemError, XmodemReceiver

MAX_LINE = 128


@dataclass(frozen=True)
class ValidImage:
    length: int
    crc32: int
    version: Version


@dataclass
class BoardState:
    board: str = "ccbox-io"
    flash_size: int = 256 * 1024
    bootloader: str = "1.2"
    valid: ValidImage | None = None
    committed: Version | None = None  # the last COMMIT's version: ERASE keeps it
    flash: bytearray = field(default_factory=bytearray)
    erased: bool = False
    commands: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.flash:
            self.flash = bytearray(b"\xff" * self.flash_size)

    @property
    def version(self) -> Version | None:
        return self.valid.version if self.valid else None

    def install(self, payload: bytes, version: Version) -> None:
        """Factory programming: a board that already runs ``version``."""
        self.flash[: len(payload)] = payload
        self.valid = ValidImage(len(payload), zlib.crc32(payload), version)
        self.committed = version


class SimulatedBoard(Protocol):
    """One power-on of the board. Faults on demand: ``cut_after_blocks`` (power cut after
    that many XMODEM blocks were written) and ``nak_storm`` (every block NAKed);
    ``line_rate``: bytes a second it reads, as a real UART would (a pty has no baud rate),
    so that a flash takes the time it takes on a board (115200 baud: 11520)."""

    def __init__(
        self,
        clock: Any,
        state: BoardState,
        *,
        cut_after_blocks: int | None = None,
        nak_storm: bool = False,
        line_rate: float | None = None,
    ) -> None:
        self.clock = clock
        self.line_rate = line_rate
        self._inbox: deque[bytes] = deque()
        self._reading = False
        self.off = False  # the power went (the pty is unplugged)
        self.state = state
        self.cut_after_blocks = cut_after_blocks
        self.nak_storm = nak_storm
        self.cut: Callable[[], None] | None = None  # pulls the plug (set by plug())
        self.mode = "application" if state.valid else "bootloader"
        self.receiver: XmodemReceiver | None = None
        self.transfers: list[str] = []  # how each transfer ended: "ok" or the error
        self._waiting: list[defer.Deferred[list[str]]] = []
        self._buffer = b""
        self._blocks = 0

    def connectionMade(self) -> None:
        if self.mode == "application":
            self._send(f"{self.state.board} application {self.state.version} running")
        else:
            self._send(f"{self.state.board} bootloader {self.state.bootloader}: no valid image")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.off = True
        if self.receiver is not None and self.receiver.state != "done":
            self.receiver.lost("power cut")

    def dataReceived(self, data: bytes) -> None:
        if self.line_rate is None:
            self._take(data)
            return
        self._inbox.append(data)
        if not self._reading:
            self._read_next()

    def _read_next(self) -> None:
        """One chunk after the time the line takes to carry it, in order."""
        if not self._inbox:
            self._reading = False
            return
        self._reading = True
        chunk = self._inbox.popleft()
        assert self.line_rate is not None
        self.clock.callLater(len(chunk) / self.line_rate, self._delivered, chunk)

    def _delivered(self, chunk: bytes) -> None:
        if not self.off:
            self._take(chunk)
            self._read_next()
        else:
            self._inbox.clear()
            self._reading = False

    def _take(self, data: bytes) -> None:
        if self.receiver is not None:
            self.receiver.data_received(data)
            return
        self._buffer += data
        while b"\n" in self._buffer and self.receiver is None:
            raw, _, self._buffer = self._buffer.partition(b"\n")
            self._line(raw.rstrip(b"\r").decode("ascii", "replace").strip())
        if len(self._buffer) > MAX_LINE:
            self._buffer = b""
            self._send("ERR LINE line too long")

    # ---- the protocol ---------------------------------------------------------------

    def _line(self, line: str) -> None:
        if not line:
            return
        if len(line) > MAX_LINE:
            self._send("ERR LINE line too long")
            return
        word, _, rest = line.partition(" ")
        self.state.commands.append("ENTER" if word == "ENTER" else line)  # less its token
        if self.mode == "application":
            if word == "ENTER":
                self.mode = "bootloader"
                self._enter(rest.split())
            return  # the application ignores everything else
        handler = {
            "ENTER": self._enter,
            "INFO": self._info,
            "ERASE": self._erase,
            "WRITE": self._receive,
            "CRC": self._crc,
            "COMMIT": self._commit,
            "BOOT": self._boot,
        }.get(word)
        if handler is None:
            self._send(f"ERR UNKNOWN {word[:16]!r}")
            return
        handler(rest.split())

    def _enter(self, args: list[str]) -> None:
        if len(args) > 1 or (args and not re.fullmatch(r"[0-9a-f]{1,16}", args[0])):
            self._send("ERR ARGS ENTER [token]")
            return
        self._send(" ".join(["OK BOOTLOADER", *args]))

    def _info(self, args: list[str]) -> None:
        s = self.state
        image = f"{s.valid.length}/{s.valid.crc32:08x}" if s.valid else "none"
        self._send(
            f"OK board={s.board} version={s.version or 'none'} flash={s.flash_size}"
            f" bootloader={s.bootloader} image={image} committed={s.committed or 'none'}"
        )

    def _erase(self, args: list[str]) -> None:
        self.state.valid = None  # first: a cut from here on leaves the bootloader in charge
        self.state.flash[:] = b"\xff" * self.state.flash_size
        self.state.erased = True
        self._send("OK ERASED")

    def _receive(self, args: list[str]) -> None:
        length = _numbers(args, 1)
        if length is None or not 0 < length[0] <= self.state.flash_size:
            self._send(f"ERR RANGE 1 to {self.state.flash_size} bytes")
            return
        if not self.state.erased:
            self._send("ERR ORDER erase first")
            return
        self.state.erased = False
        self._blocks = 0
        receiver = XmodemReceiver(
            self.clock,
            self._write,
            self._store,
            max_bytes=self.state.flash_size + 1024,
            retries=1000 if self.nak_storm else 10,  # in a storm the host's retries end it
        )
        receiver.reject_blocks = self.nak_storm
        self.receiver = receiver
        self._send("OK SEND")
        receiver.done.addCallbacks(self._written, self._transfer_failed)
        receiver.start()

    def _store(self, offset: int, block: bytes) -> None:
        end = min(offset + len(block), self.state.flash_size)
        self.state.flash[offset:end] = block[: end - offset]
        self._blocks += 1
        if self.cut_after_blocks is not None and self._blocks >= self.cut_after_blocks:
            assert self.cut is not None, "a cut needs a board plugged in with plug()"
            self.clock.callLater(0, self.cut)

    def transfers_ended(self, count: int = 1) -> defer.Deferred[list[str]]:
        """Fires with ``transfers`` once ``count`` transfers have ended (for tests: the
        host may be done before the board has read its last bytes)."""
        d: defer.Deferred[list[str]] = defer.Deferred()
        self._waiting.append(d)
        d.addCallback(lambda t: t if len(t) >= count else self.transfers_ended(count))
        if self.transfers:
            self._wake()
        return d

    def _wake(self) -> None:
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(self.transfers)

    def _written(self, count: int) -> None:
        self.receiver = None
        self.transfers.append("ok")
        self._send(f"OK WRITTEN {count}")
        self._wake()

    def _transfer_failed(self, failure: Failure) -> None:
        failure.trap(XmodemError)
        self.receiver = None
        self.transfers.append(str(failure.value))
        self._send(f"ERR XMODEM {failure.value}")
        self._wake()

    def _crc(self, args: list[str]) -> None:
        numbers = _numbers(args, 2)
        if numbers is None or numbers[0] + numbers[1] > self.state.flash_size:
            self._send("ERR RANGE CRC <start> <length> inside the flash")
            return
        start, length = numbers
        self._send(f"OK {zlib.crc32(self.state.flash[start : start + length]):08x}")

    def _commit(self, args: list[str]) -> None:
        if len(args) != 3 or not re.fullmatch(r"[0-9a-f]{8}", args[1]):
            self._send("ERR ARGS COMMIT <length> <crc32> <version>")
            return
        numbers = _numbers(args[:1], 1)
        try:
            version = Version.parse(args[2])
        except ValueError:
            numbers = None
        if numbers is None or not 0 < numbers[0] <= self.state.flash_size:
            self._send("ERR ARGS COMMIT <length> <crc32> <version>")
            return
        length, crc = numbers[0], int(args[1], 16)
        if zlib.crc32(self.state.flash[:length]) != crc:
            self._send("ERR CRC the flash does not hold that image")
            return
        self.state.valid = ValidImage(length, crc, version)
        self.state.committed = version
        self._send("OK VALID")

    def _boot(self, args: list[str]) -> None:
        if self.state.valid is None:
            self._send("ERR NOIMAGE no valid image: staying in the bootloader")
            return
        self._send("OK BOOTING")
        self.mode = "application"

    def _send(self, line: str) -> None:
        self._write(line.encode("ascii") + b"\r\n")

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.write(data)


def _numbers(args: list[str], count: int) -> list[int] | None:
    if len(args) != count or not all(a.isascii() and a.isdigit() and len(a) <= 10 for a in args):
        return None
    return [int(a) for a in args]


def plug(reactor: IReactorFDSet, board: SimulatedBoard, link: Path | None = None) -> PtyLink:
    """Power ``board`` on at the end of a new pty (``link`` a stable path to it); its
    ``cut`` pulls that plug."""
    pty = PtyLink.open(reactor, board, link)
    board.cut = pty.unplug
    return pty
