"""The host's side of the board's bootloader protocol (docs/firmware.md, "Bootloader").

A command is one ASCII line ending in LF; the board answers each with one line, ``OK ...``
or ``ERR <CODE> <text>`` (CR LF); other lines (the application's chatter, banners) are
ignored. ``WRITE`` hands the line to XMODEM-1K between its ``OK SEND`` and its final
``OK WRITTEN <n>``. One command at a time: the flash is a sequence, never a pipeline.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from firmware_tools.image import BOARD_ID, Version
from firmware_tools.xmodem import XmodemSender

MAX_LINE = 256
REPLY_TIMEOUT = 5.0
ERASE_TIMEOUT = 60.0  # a real erase of a few MiB takes seconds
ENTER_TRIES = 3
_INFO = re.compile(
    r"board=(?P<board>\S+) version=(?P<version>\S+) flash=(?P<flash>\d{1,10})"
    r" bootloader=(?P<bootloader>\S{1,16}) image=(?:none|(?P<length>\d{1,10})/(?P<crc>[0-9a-f]{8}))"
    r" committed=(?P<committed>\S+)"
)


class BootloaderError(Exception):
    """The board refused a command, said something unexpected, or stopped answering."""


class BoardRefused(BootloaderError):
    """The board answered ``ERR``: it is there and said no (not silence)."""


@dataclass(frozen=True)
class BoardInfo:
    board: str
    version: Version | None  # None: no valid image (the bootloader is all the board runs)
    flash_size: int
    bootloader: str
    image: tuple[int, int] | None = None  # the valid image's (length, CRC32)
    # the version last committed, kept by the bootloader across ERASE: after a cut or
    # cancelled flash (no valid image) a downgrade is still measured against it
    committed: Version | None = None

    @classmethod
    def parse(cls, text: str) -> BoardInfo:
        m = _INFO.fullmatch(text)
        if m is None or not BOARD_ID.fullmatch(m["board"]):
            raise BootloaderError(f"INFO: unexpected answer {text!r}")
        try:
            version = None if m["version"] == "none" else Version.parse(m["version"])
            committed = None if m["committed"] == "none" else Version.parse(m["committed"])
        except ValueError as exc:
            raise BootloaderError(f"INFO: {exc}") from None
        if (version is None) != (m["length"] is None):
            raise BootloaderError(f"INFO: a version without an image or back: {text!r}")
        if version is not None and committed != version:
            raise BootloaderError(f"INFO: a valid image that is not the one committed: {text!r}")
        image = None if m["length"] is None else (int(m["length"]), int(m["crc"], 16))
        return cls(m["board"], version, int(m["flash"]), m["bootloader"], image, committed)


class BootloaderClient(Protocol):
    """The serial protocol of a flash: typed commands, each a Deferred of the board's answer
    (the text after ``OK``); ``ERR`` and timeouts fail it with BootloaderError."""

    def __init__(self, clock: Any, reply_timeout: float = REPLY_TIMEOUT) -> None:
        self._clock = clock
        self._reply_timeout = reply_timeout
        self._buffer = b""
        self._pending: defer.Deferred[str] | None = None
        self._timer: Any = None
        self._sender: XmodemSender | None = None
        self._on_send: Callable[[], None] | None = None
        self._token: str | None = None  # ENTER's: lines before its answer are skipped
        self.connected_d: defer.Deferred[None] = defer.Deferred()
        self.lost_d: defer.Deferred[None] = defer.Deferred()
        self.gone: str | None = None

    # ---- Twisted ----------------------------------------------------------------------

    def connectionMade(self) -> None:
        self.connected_d.callback(None)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.gone = "the board's serial line went away (unplugged or power cut)"
        if self._sender is not None:
            self._sender.lost(self.gone)
            self._sender = None
        self._fail(BootloaderError(self.gone))
        if not self.lost_d.called:
            self.lost_d.callback(None)

    def dataReceived(self, data: bytes) -> None:
        if self._sender is not None:
            data = self._sender.data_received(data)
            if self._sender.state != "done":
                return
            self._sender = None
        self._buffer += data
        while b"\n" in self._buffer and self._sender is None:
            raw, _, self._buffer = self._buffer.partition(b"\n")
            self._line(raw.rstrip(b"\r").decode("ascii", "replace"))
            if self._sender is not None and self._buffer:
                rest, self._buffer = self._buffer, b""
                self.dataReceived(rest)
        if len(self._buffer) > MAX_LINE:
            self._buffer = b""
            self._fail(BootloaderError("the board sent a line longer than any answer"))

    # ---- commands ---------------------------------------------------------------------

    def command(self, line: str, timeout: float | None = None) -> defer.Deferred[str]:
        if self.gone is not None:
            return defer.fail(BootloaderError(self.gone))
        if self._pending is not None:
            return defer.fail(BootloaderError("a command is already waiting for its answer"))
        d: defer.Deferred[str] = defer.Deferred()
        self._pending = d
        self._timer = self._clock.callLater(
            timeout or self._reply_timeout, self._timed_out, line.split(" ")[0]
        )
        self._write(line.encode("ascii") + b"\n")
        return d

    async def enter(self) -> None:
        """Into the bootloader (from the application, or already there), in step with it:
        ``ENTER <token>`` is answered ``OK BOOTLOADER <token>``, and every ``OK`` line before
        that answer (left from an earlier session, a late answer) is skipped. An ``ERR`` ends
        the try at once (a stale one costs a try, not a timeout), so a board that refuses
        ENTER fails in three quick answers with its own error. A few tries, as a board that
        is resetting may miss the first."""
        for attempt in range(1, ENTER_TRIES + 1):
            self._token = secrets.token_hex(4)
            try:
                await self.command(f"ENTER {self._token}")
            except BoardRefused as exc:
                if attempt == ENTER_TRIES or self.gone is not None:
                    raise BoardRefused(f"the bootloader refused ENTER: {exc}") from None
                continue
            except BootloaderError as exc:
                if attempt == ENTER_TRIES or self.gone is not None:
                    raise BootloaderError(f"no bootloader answered ENTER: {exc}") from None
                continue
            finally:
                self._token = None
            return

    async def info(self) -> BoardInfo:
        return BoardInfo.parse(await self.command("INFO"))

    async def erase(self) -> None:
        await self._expect(await self.command("ERASE", ERASE_TIMEOUT), "ERASED")

    async def crc(self, start: int, length: int) -> int:
        answer = await self.command(f"CRC {start} {length}")
        if not re.fullmatch(r"[0-9a-f]{8}", answer):
            raise BootloaderError(f"CRC: unexpected answer {answer!r}")
        return int(answer, 16)

    async def commit(self, length: int, crc: int, version: Version) -> None:
        await self._expect(await self.command(f"COMMIT {length} {crc:08x} {version}"), "VALID")

    async def boot(self) -> None:
        await self._expect(await self.command("BOOT"), "BOOTING")

    def write(
        self,
        data: bytes,
        progress: Callable[[int, int], None] | None = None,
        block_timeout: float = 15.0,
    ) -> tuple[XmodemSender, defer.Deferred[int]]:
        """``WRITE <n>`` then the XMODEM-1K transfer; the Deferred fires with the bytes the
        board says it wrote. The sender is returned so that the caller can cancel it."""
        sender = XmodemSender(
            self._clock, self._write, data, progress=progress, block_timeout=block_timeout
        )

        async def run() -> int:
            written = self.command(f"WRITE {len(data)}")
            self._on_send = lambda: self._start_transfer(sender)
            try:
                await self._expect(await written, "SEND")
            finally:
                self._on_send = None
            await sender.done  # its bytes come before the answer: no command is waiting now
            answer = await self._next_reply("WRITE")
            m = re.fullmatch(r"WRITTEN (\d{1,10})", answer)
            if m is None:
                raise BootloaderError(f"WRITE: unexpected answer {answer!r}")
            return int(m[1])

        return sender, defer.Deferred.fromCoroutine(run())

    # ---- inside -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.write(data)

    def _start_transfer(self, sender: XmodemSender) -> None:
        self._sender = sender
        sender.start()

    def _next_reply(self, what: str) -> defer.Deferred[str]:
        """The line the board sends after the transfer (no command sent for it)."""
        if self.gone is not None:
            return defer.fail(BootloaderError(self.gone))
        d: defer.Deferred[str] = defer.Deferred()
        self._pending = d
        self._timer = self._clock.callLater(self._reply_timeout, self._timed_out, what)
        return d

    async def _expect(self, answer: str, wanted: str) -> None:
        if answer != wanted:
            raise BootloaderError(f"expected OK {wanted}, the board said OK {answer!r}")

    def _line(self, line: str) -> None:
        if not (line.startswith("OK") or line.startswith("ERR ")) or self._pending is None:
            return  # the application's chatter, a banner, or an answer nobody waits for
        in_step = line == f"OK BOOTLOADER {self._token}" or line.startswith("ERR ")
        if self._token is not None and not in_step:
            return  # not in step yet (an ERR goes through: the board may refuse ENTER)
        d, self._pending = self._pending, None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if line.startswith("ERR "):
            d.errback(BoardRefused(f"the board refused: {line[4:]}"))
            return
        answer = line[3:] if line.startswith("OK ") else line[2:]
        if answer == "SEND" and self._on_send is not None:
            self._on_send()  # before anything else reads the line: the C may follow at once
        d.callback(answer)

    def _timed_out(self, what: str) -> None:
        self._timer = None
        self._fail(BootloaderError(f"{what}: no answer from the board in time"))

    def _fail(self, error: Exception) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        d, self._pending = self._pending, None
        if d is not None:
            d.errback(error)
