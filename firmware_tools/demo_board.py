"""The demo's I/O board: a simulated bootloader on a pty, a demo signing key, signed images.

``prepare`` writes (once) into the demo's data directory: ``firmware-keys/demo.pub.pem``
(the trusted key, the demo config's ``[firmware] keys_dir``), ``firmware/demo.pem`` (its
private key) and the signed images ``firmware/ccbox-io-1.1.0.ccfw`` and its Intel HEX twin
``.hex``. ``plug`` powers the board on at ``board-tty`` (a symlink to the pty), running
firmware 1.0.0, so ``ccbox firmware flash`` has something to upgrade.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_tools.image import Version, bytes_to_hex
from firmware_tools.signing import load_private_key, make_key_pair, sign
from firmware_tools.simulator import BoardState, SimulatedBoard, plug

BOARD = "ccbox-io"
RUNNING = Version(1, 0, 0)
NEW = Version(1, 1, 0)
PAYLOAD_BYTES = 96 * 1024
LINE_RATE = 11_520  # 115200 baud, 8N1: the 96 KiB take about 9 s, a progress bar to watch


@dataclass(frozen=True)
class DemoFirmware:
    keys_dir: Path
    image: Path
    hex_image: Path
    device: Path


def payload(version: Version, size: int = PAYLOAD_BYTES) -> bytes:
    """Stand-in firmware: repeatable bytes that differ by version."""
    out = bytearray()
    seed = f"{BOARD} {version}".encode()
    while len(out) < size:
        seed = hashlib.sha256(seed).digest()
        out += seed
    return bytes(out[:size])


def paths(data_dir: Path) -> DemoFirmware:
    fw = data_dir / "firmware"
    return DemoFirmware(
        keys_dir=data_dir / "firmware-keys",
        image=fw / f"{BOARD}-{NEW}.ccfw",
        hex_image=fw / f"{BOARD}-{NEW}.hex",
        device=data_dir / "board-tty",
    )


def prepare(data_dir: Path) -> DemoFirmware:
    """The key and the images, made at the first start and kept (blocking: before the
    reactor runs)."""
    where = paths(data_dir)
    fw = where.image.parent
    fw.mkdir(parents=True, exist_ok=True)
    where.keys_dir.mkdir(exist_ok=True)
    private = fw / "demo.pem"
    if not private.exists():
        public = make_key_pair(private)
        public.replace(where.keys_dir / public.name)
    if not where.image.exists():
        image = sign(payload(NEW), BOARD, NEW, load_private_key(private))
        where.image.write_bytes(image.to_bytes())
        where.hex_image.write_text(bytes_to_hex(image.to_bytes()), encoding="ascii")
    return where


def start(reactor: Any, where: DemoFirmware) -> tuple[SimulatedBoard, BoardState]:
    """Power the board on (firmware 1.0.0) at ``where.device``."""
    state = BoardState(board=BOARD)
    state.install(payload(RUNNING, 64 * 1024), RUNNING)
    board = SimulatedBoard(reactor, state, line_rate=LINE_RATE)
    link = plug(reactor, board, where.device)
    reactor.addSystemEventTrigger("before", "shutdown", link.unplug)  # no dangling link
    return board, state
