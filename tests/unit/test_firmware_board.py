"""Flashing through a real pseudo-terminal: the host's Session against the simulated board.

The bytes cross a real pty (Twisted's SerialPort on the slave, the simulator on the master)
in the real reactor; nothing here waits on a timer: each step ends on what the other side
said, and faults (a refusal, a cut, a NAK storm, a cancel) are the board's or the user's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from twisted.internet import defer, reactor
from twisted.trial import unittest

from firmware_tools import demo_board
from firmware_tools.bootloader import BootloaderError
from firmware_tools.flash import Cancelled, Refused, Session, refusals, run
from firmware_tools.image import FirmwareImage, Version, read_image
from firmware_tools.signing import check_signature, load_trusted_keys, sign
from firmware_tools.simulator import BoardState, SimulatedBoard, plug
from tests.support.tmp import temp_dir

KEY = Ed25519PrivateKey.generate()
OLD = Version(1, 0, 0)


def image(
    version: str = "1.1.0", size: int = 20_000, board: str = "ccbox-io", seed: int = 0
) -> FirmwareImage:
    payload = bytes((i * 7 + seed) & 0xFF for i in range(size))
    return sign(payload, board, Version.parse(version), KEY)


class FlashTest(unittest.TestCase):
    timeout = 20

    def setUp(self) -> None:
        self.link = Path(temp_dir(self)) / "board-tty"
        self.state = BoardState(board="ccbox-io", flash_size=64 * 1024)
        self.state.install(b"factory firmware" * 100, OLD)

    def power_on(self, **faults: Any) -> SimulatedBoard:
        board = SimulatedBoard(reactor, self.state, **faults)
        pty = plug(reactor, board, self.link)
        self.addCleanup(pty.unplug)
        return board

    def session(self, work: Any) -> defer.Deferred[Any]:
        session = Session(reactor, self.link)
        return run(session, lambda: work(session))

    async def test_flash_then_verify(self) -> None:
        board = self.power_on()
        self.assertEqual(board.mode, "application")
        new = image()
        done: list[int] = []
        result = await self.session(
            lambda s: s.flash(new, progress=lambda sent, total: done.append(sent))
        )
        self.assertEqual((result.before.version, result.written), (OLD, 20 * 1024))
        self.assertEqual(done[-1], 20_000)
        self.assertEqual(
            self.state.commands,
            [
                *("ENTER", "INFO", "ERASE", "WRITE 20000", "CRC 0 20000"),
                *(f"COMMIT 20000 {new.crc32:08x} 1.1.0", "BOOT"),
            ],
        )
        self.assertEqual(bytes(self.state.flash[:20_000]), new.payload)
        self.assertEqual((self.state.version, board.mode), (Version(1, 1, 0), "application"))
        verified = await self.session(lambda s: s.verify(new))
        self.assertTrue(verified.matches)
        other = await self.session(lambda s: s.verify(image("1.1.0", seed=1)))
        self.assertFalse(other.matches)
        # the first 19,999 bytes of what it holds, same version: not the image it runs
        prefix = sign(new.payload[:-1], "ccbox-io", Version(1, 1, 0), KEY)
        self.assertFalse((await self.session(lambda s: s.verify(prefix))).matches)
        # larger than the flash: no CRC asked, and the board runs its application again
        self.assertFalse((await self.session(lambda s: s.verify(image(size=65_537)))).matches)
        self.assertEqual((self.state.commands[-1], board.mode), ("BOOT", "application"))
        info = await self.session(lambda s: s.info())
        self.assertEqual(
            (info.board, info.version, info.flash_size), ("ccbox-io", Version(1, 1, 0), 65536)
        )

    async def test_every_refusal_comes_before_any_erase(self) -> None:
        self.power_on()
        cases = [
            (image(board="other-board"), "the image is for board 'other-board'"),
            (image("0.9.0"), "version 0.9.0 is older than the board's 1.0.0"),
            (image(size=64 * 1024 + 1), "do not fit the board's 65536"),
        ]
        for bad, why in cases:
            with self.assertRaises(Refused) as caught:
                await self.session(lambda s, bad=bad: s.flash(bad))
            self.assertIn(why, str(caught.exception))
        self.assertNotIn("ERASE", self.state.commands)
        self.assertEqual(self.state.commands.count("INFO"), 3)
        self.assertEqual(self.state.commands.count("BOOT"), 3)  # back to its application
        self.assertEqual(self.state.version, OLD)
        await self.session(lambda s: s.flash(image("0.9.0"), allow_downgrade=True))
        self.assertEqual(self.state.version, Version(0, 9, 0))

    async def test_a_refusal_stays_a_refusal_when_the_board_fails_to_boot_back(self) -> None:
        class BootFails(SimulatedBoard):
            def _boot(self, args: list[str]) -> None:
                self._send("ERR FAULT the application did not start")

        pty = plug(reactor, BootFails(reactor, self.state), self.link)
        self.addCleanup(pty.unplug)
        with self.assertRaises(Refused) as caught:
            await self.session(lambda s: s.flash(image("0.9.0")))
        self.assertIn("version 0.9.0 is older than the board's 1.0.0", str(caught.exception))
        self.assertIn("FAULT the application did not start", str(caught.exception))
        self.assertEqual(self.state.commands, ["ENTER", "INFO", "BOOT"])  # nothing erased
        self.assertEqual(self.state.version, OLD)

    async def test_a_cut_mid_transfer_leaves_the_bootloader_and_a_retry_succeeds(self) -> None:
        first = self.power_on(cut_after_blocks=5)
        with self.assertRaises(BootloaderError) as caught:
            await self.session(lambda s: s.flash(image()))
        self.assertIn("line went away", str(caught.exception))
        self.assertEqual(first.transfers, ["power cut"])
        self.assertIsNone(self.state.valid)  # ERASE dropped it before the first block
        # power back on (a new pty behind the same link): the bootloader answers, not the app
        board = self.power_on()
        self.assertEqual(board.mode, "bootloader")
        new = image()
        result = await self.session(lambda s: s.flash(new))
        self.assertIsNone(result.before.version)
        self.assertEqual(self.state.valid.crc32 if self.state.valid else None, new.crc32)
        self.assertEqual(board.mode, "application")

    async def test_after_a_cut_flash_an_older_image_is_still_a_downgrade(self) -> None:
        self.power_on(cut_after_blocks=5)
        with self.assertRaises(BootloaderError):
            await self.session(lambda s: s.flash(image()))
        self.assertIsNone(self.state.valid)
        self.power_on()  # into the bootloader: no valid image, 1.0.0 was the last committed
        info = await self.session(lambda s: s.info())
        self.assertEqual((info.version, info.committed), (None, OLD))
        with self.assertRaises(Refused) as caught:
            await self.session(lambda s: s.flash(image("0.9.0")))
        self.assertIn(
            "version 0.9.0 is older than the board's last committed 1.0.0", str(caught.exception)
        )
        self.assertEqual(self.state.commands.count("ERASE"), 1)  # the cut flash's only
        self.assertNotIn("BOOT", self.state.commands)  # nothing to boot: it stays put
        await self.session(lambda s: s.flash(image("0.9.0"), allow_downgrade=True))
        self.assertEqual((self.state.version, self.state.committed), (Version(0, 9, 0),) * 2)

    async def test_a_nak_storm_is_retried_then_cancelled_and_the_board_still_answers(
        self,
    ) -> None:
        board = self.power_on(nak_storm=True)
        with self.assertRaises(BootloaderError) as caught:
            await self.session(lambda s: s.flash(image()))
        self.assertIn("block 1: not acknowledged after 10 retries", str(caught.exception))
        ended = await board.transfers_ended()
        self.assertEqual(ended, ["the sender cancelled the transfer (CAN CAN)"])
        self.assertIsNone(self.state.valid)
        board.nak_storm = False
        await self.session(lambda s: s.flash(image()))
        self.assertEqual(self.state.version, Version(1, 1, 0))

    async def test_ctrl_c_during_the_transfer_sends_can_can(self) -> None:
        board = self.power_on()
        session = Session(reactor, self.link)

        def progress(sent: int, total: int) -> None:
            if sent >= 3 * 1024:
                session.cancel()

        with self.assertRaises(Cancelled):
            await run(session, lambda: session.flash(image(), progress=progress))
        ended = await board.transfers_ended()
        self.assertEqual(ended, ["the sender cancelled the transfer (CAN CAN)"])
        self.assertEqual((self.state.valid, board.mode), (None, "bootloader"))


class DemoBoardTest(unittest.TestCase):
    timeout = 20

    async def test_the_demo_board_runs_1_0_0_and_the_demo_image_is_trusted(self) -> None:
        where = demo_board.prepare(temp_dir(self))
        key = (where.image.parent / "demo.pem").read_bytes()
        demo_board.prepare(where.image.parent.parent)  # the next demo keeps key and image
        self.assertEqual((where.image.parent / "demo.pem").read_bytes(), key)
        keys = load_trusted_keys(where.keys_dir)
        new = read_image(where.image)
        self.assertEqual(check_signature(new, keys).name, "demo.pub.pem")
        self.assertEqual(read_image(where.hex_image), new)
        board, _ = demo_board.start(reactor, where)
        assert board.cut is not None
        self.addCleanup(board.cut)
        session = Session(reactor, where.device)
        info = await run(session, session.info)
        self.assertEqual((info.board, info.version), (new.board, demo_board.RUNNING))
        self.assertEqual(refusals(new, info, allow_downgrade=False), [])
