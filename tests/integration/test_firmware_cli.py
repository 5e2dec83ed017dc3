"""``ccbox firmware`` end to end: the real parser and entry point against the simulated board.

keygen and sign run in this process (no reactor); flash and verify run ``python -m
appliance.cli`` as a child (each runs its own reactor) against a board on a real pty served
by this test's reactor, with the trusted keys named by the config's ``[firmware] keys_dir``.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from twisted.internet import defer, protocol, reactor, utils
from twisted.trial import unittest

from appliance import config as config_mod
from appliance.cli import main as cli_main
from firmware_tools.image import Version
from firmware_tools.simulator import BoardState, SimulatedBoard, plug
from tests.support.tmp import temp_dir

pytestmark = pytest.mark.integration


class FirmwareCliTest(unittest.TestCase):
    timeout = 60

    def setUp(self) -> None:
        self.dir = temp_dir(self)
        keys = self.dir / "keys"
        keys.mkdir()
        self.conf = self.dir / "ccbox.conf"
        self.conf.write_text(config_mod.render(self.dir / "data", firmware_keys_dir=keys))
        self.state = BoardState(board="ccbox-io", flash_size=64 * 1024)
        self.state.install(b"old" * 1000, Version(1, 0, 0))
        self.link = self.dir / "board-tty"
        # a vendor's key, its public half trusted by the box; a stranger's, not trusted
        assert cli_main(["firmware", "keygen", "--out", str(self.dir / "vendor.pem")]) == 0
        (self.dir / "vendor.pub.pem").rename(keys / "vendor.pub.pem")
        assert cli_main(["firmware", "keygen", "--out", str(self.dir / "stranger.pem")]) == 0
        (self.dir / "payload.bin").write_bytes(os.urandom(30_000))

    def sign(self, out: str, board: str = "ccbox-io", key: str = "vendor.pem") -> Path:
        args = ["firmware", "sign", "--key", str(self.dir / key), "--board", board]
        args += ["--version", "1.1.0", "--out", str(self.dir / out), str(self.dir / "payload.bin")]
        assert cli_main(args) == 0
        return self.dir / out

    def power_on(self, line_rate: float | None = None) -> SimulatedBoard:
        board = SimulatedBoard(reactor, self.state, line_rate=line_rate)
        self.addCleanup(plug(reactor, board, self.link).unplug)
        return board

    async def ccbox(self, *args: str) -> tuple[str, str, int]:
        argv = ["-m", "appliance.cli", "--config", str(self.conf), "firmware", *args]
        out, err, code = await utils.getProcessOutputAndValue(
            sys.executable, argv, env=dict(os.environ), path=str(Path.cwd())
        )
        return out.decode(), err.decode(), code

    async def test_flash_verify_and_the_refusals(self) -> None:
        self.power_on()
        image = self.sign("fw.hex")  # Intel HEX, the header in its reserved region
        out, err, code = await self.ccbox("flash", "--device", str(self.link), str(image))
        self.assertEqual(code, 0, err)
        self.assertIn("signed by vendor.pub.pem", out)
        self.assertIn("board ccbox-io (bootloader 1.2) runs 1.0.0", out)
        self.assertIn("flashed and verified: ccbox-io runs 1.1.0", out)
        self.assertIn("100%  30000/30000 bytes", err)  # not a TTY: plain progress lines
        self.assertEqual(self.state.version, Version(1, 1, 0))

        out, err, code = await self.ccbox("verify", "--device", str(self.link), str(image))
        self.assertEqual((code, out.splitlines()[-1][:23]), (0, "matches: ccbox-io holds"))

        commands = len(self.state.commands)
        stranger = self.sign("stranger.ccfw", key="stranger.pem")
        flash = ["--config", str(self.conf), "firmware", "flash", "--device", str(self.link)]
        self.assertEqual(cli_main([*flash, str(stranger)]), 3)  # refused before any reactor
        self.assertEqual(len(self.state.commands), commands)  # the board was not even opened

        other = self.sign("other.ccfw", board="other-board")
        out, err, code = await self.ccbox("flash", "--device", str(self.link), str(other))
        self.assertEqual(code, 3)
        self.assertIn("refused, nothing erased: the image is for board 'other-board'", err)
        self.assertEqual(self.state.commands[commands:], ["ENTER", "INFO", "BOOT"])

    async def test_ctrl_c_cancels_the_transfer_with_can_can(self) -> None:
        board = self.power_on(line_rate=20_000)  # 30 KB: 1.5 s on the line
        image = self.sign("fw.ccfw")
        interrupt = InterruptWhenProgressing()
        argv = [sys.executable, "-m", "appliance.cli", "--config", str(self.conf), "firmware"]
        argv += ["flash", "--device", str(self.link), str(image)]
        spawner: Any = reactor
        spawner.spawnProcess(interrupt, sys.executable, argv, env=dict(os.environ))
        code = await interrupt.ended
        self.assertEqual(code, 130, interrupt.err)
        self.assertIn("cancelled: the board stays in its bootloader", interrupt.err)
        self.assertEqual(
            await board.transfers_ended(), ["the sender cancelled the transfer (CAN CAN)"]
        )
        self.assertEqual((self.state.valid, board.mode), (None, "bootloader"))


class InterruptWhenProgressing(protocol.ProcessProtocol):
    """Sends SIGINT (Ctrl-C) once the first progress line is out."""

    def __init__(self) -> None:
        self.err = ""
        self.sent = False
        self.ended: defer.Deferred[int] = defer.Deferred()

    def errReceived(self, data: bytes) -> None:
        self.err += data.decode()
        if "%" in self.err and not self.sent:
            self.sent = True
            transport: Any = self.transport
            transport.signalProcess(signal.SIGINT)

    def processEnded(self, reason: Any) -> None:
        self.ended.callback(reason.value.exitCode)
