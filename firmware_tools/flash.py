"""Flash, verify and read a board: every check before anything is erased.

Order of a flash (docs/firmware.md): the image is read and its signature checked against
the trusted keys (the caller does that, before the port is even opened); then ENTER and
INFO; the board id, the version (no downgrade unless allowed) and the flash size are
checked; only then ERASE, WRITE (XMODEM-1K), a CRC read-back of what the board holds,
COMMIT (the bootloader marks the image valid) and BOOT. A cut or a cancel anywhere before
COMMIT leaves the board in its bootloader, ready for the next try.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.internet.serialport import SerialPort

from firmware_tools.bootloader import BoardInfo, BootloaderClient, BootloaderError
from firmware_tools.image import FirmwareImage
from firmware_tools.xmodem import XmodemCancelled, XmodemSender

Progress = Callable[[int, int], None]


class Refused(Exception):
    """The image does not fit this board: nothing was erased."""


class Cancelled(Exception):
    """The user stopped the flash (CAN CAN sent when it was transferring)."""


@dataclass(frozen=True)
class FlashResult:
    before: BoardInfo
    image_crc: int
    written: int


@dataclass(frozen=True)
class VerifyResult:
    info: BoardInfo
    board_crc: int
    matches: bool


def refusals(image: FirmwareImage, info: BoardInfo, *, allow_downgrade: bool) -> list[str]:
    """Why ``image`` must not go onto the board ``info`` describes (empty: it may)."""
    out = []
    if image.board != info.board:
        out.append(f"the image is for board {image.board!r}, this board is {info.board!r}")
    if len(image.payload) > info.flash_size:
        out.append(
            f"the image's {len(image.payload)} bytes do not fit the board's {info.flash_size}"
        )
    # A board whose flash was cut or cancelled has no valid image, but its bootloader still
    # knows the version last committed: an older image is a downgrade all the same.
    floor = info.version if info.version is not None else info.committed
    if floor is not None and image.version < floor and not allow_downgrade:
        board_has = (
            f"the board's {floor}"
            if info.version is not None
            else f"the board's last committed {floor} (its last flash did not complete)"
        )
        out.append(
            f"version {image.version} is older than {board_has}"
            " (--allow-downgrade to flash it anyway)"
        )
    return out


class Session:
    """One serial connection to a board's bootloader; ``cancel()`` stops whatever runs."""

    def __init__(self, reactor: Any, device: Path, baudrate: int = 115200) -> None:
        self.reactor = reactor
        self.device = device
        self.baudrate = baudrate
        self.client = BootloaderClient(reactor)
        self._port: SerialPort | None = None
        self._sender: XmodemSender | None = None
        self.cancelled = False

    async def open(self) -> BoardInfo:
        try:
            self._port = SerialPort(
                self.client, str(self.device), self.reactor, baudrate=self.baudrate
            )
        except Exception as exc:  # pyserial's SerialException, OSError: both say why
            raise BootloaderError(f"cannot open {self.device}: {exc}") from None
        self._port.flushInput()  # what the board said to an earlier session is not for us
        await self.client.enter()
        return await self.client.info()

    async def close(self) -> None:
        if self._port is not None and self.client.gone is None:
            self._port.loseConnection()
            await self.client.lost_d

    def cancel(self) -> None:
        """Ctrl-C: CAN CAN to the board when transferring, else drop the line."""
        self.cancelled = True
        if self._sender is not None and self._sender.state != "done":
            self._sender.cancel("cancelled by the user")
        elif self._port is not None and self.client.gone is None:
            self._port.loseConnection()

    async def flash(
        self,
        image: FirmwareImage,
        *,
        allow_downgrade: bool = False,
        progress: Progress | None = None,
        on_info: Callable[[BoardInfo], None] | None = None,
        block_timeout: float = 15.0,
    ) -> FlashResult:
        info = await self.open()
        if on_info is not None:
            on_info(info)
        problems = refusals(image, info, allow_downgrade=allow_downgrade)
        if problems:
            if info.version is not None:
                try:
                    await self.client.boot()  # back to the application it was running
                except BootloaderError as exc:
                    # still a refusal (exit 3): nothing was erased, the image stays intact
                    problems.append(f"the board stays in its bootloader ({exc})")
            raise Refused("; ".join(problems))
        self._check_cancel()
        await self.client.erase()
        self._check_cancel()
        sender, written_d = self.client.write(image.payload, progress, block_timeout)
        self._sender = sender
        try:
            written = await written_d
        except XmodemCancelled as exc:
            if self.cancelled:
                raise Cancelled("cancelled during the transfer") from None
            raise BootloaderError(f"transfer: {exc}") from None
        except Exception as exc:
            raise BootloaderError(f"transfer: {exc}") from None
        finally:
            self._sender = None
        if written < len(image.payload):
            raise BootloaderError(f"the board wrote {written} of {len(image.payload)} bytes")
        board_crc = await self.client.crc(0, len(image.payload))
        if board_crc != image.crc32:
            raise BootloaderError(
                f"read-back CRC {board_crc:08x} is not the image's {image.crc32:08x}: the image"
                " is not marked valid, the board stays in its bootloader; flash again"
            )
        await self.client.commit(len(image.payload), image.crc32, image.version)
        await self.client.boot()
        return FlashResult(info, image.crc32, written)

    async def verify(self, image: FirmwareImage) -> VerifyResult:
        """Does the board hold ``image``? Its valid image is this one (board, version,
        length, CRC) and the read-back CRC of that length is the image's."""
        info = await self.open()
        # An image larger than the flash cannot be on it; the board still goes back to its
        # application below (ENTER stopped it).
        fits = len(image.payload) <= info.flash_size
        board_crc = await self.client.crc(0, len(image.payload)) if fits else 0
        matches = (
            fits
            and board_crc == image.crc32
            and info.image == (len(image.payload), image.crc32)
            and (info.board, info.version) == (image.board, image.version)
        )
        if info.version is not None:
            await self.client.boot()
        return VerifyResult(info, board_crc, matches)

    async def info(self) -> BoardInfo:
        info = await self.open()
        if info.version is not None:
            await self.client.boot()  # back to the application it was running
        return info

    def _check_cancel(self) -> None:
        if self.cancelled:
            raise Cancelled("cancelled")


def run(session: Session, work: Callable[[], Any]) -> defer.Deferred[Any]:
    """``work()`` (a coroutine of the session) with the port closed after it, whatever happens."""

    async def go() -> Any:
        try:
            return await work()
        finally:
            await session.close()

    return defer.Deferred.fromCoroutine(go())
