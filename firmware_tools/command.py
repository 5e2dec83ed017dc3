"""``ccbox firmware flash|info|verify|sign|keygen``: the arguments and what each one does.

appliance/cli.py mounts the parser and fills ``args.keys_dir`` from ``[firmware]`` when the
command line names none. A flash runs its own reactor; Ctrl-C cancels it cleanly (CAN CAN
when transferring). Exit codes (docs/firmware.md): 0 done; 1 sign or keygen failed; 3
refused before erasing (an unreadable or damaged image, a signature, wrong board, downgrade,
too large); 4 the board failed (no answer, line lost, transfer or read-back failed:
flash again, the bootloader still answers); 5 verify: the board holds something else; 130
cancelled with Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OK = 0
ERROR = 1  # sign or keygen: a file, a key or an argument
REFUSED = 3  # the image or the board check said no: the board was not touched
BOARD_FAILED = 4  # the board did not answer, the line went away, or the transfer failed
MISMATCH = 5  # verify: the board does not hold this image
CANCELLED = 130


def add_parser(sub: Any, func: Callable[[argparse.Namespace], int]) -> None:
    fw = sub.add_parser("firmware", help="flash, check and sign firmware of serial boards")
    fw_sub = fw.add_subparsers(dest="sub", required=True, metavar="SUBCOMMAND")

    def add(name: str, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = fw_sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func, firmware=name)
        return sp

    def board_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", required=True, type=Path, help="the board's serial port")
        sp.add_argument("--baudrate", type=int, default=115200)

    def keys_arg(sp: argparse.ArgumentParser) -> None:
        sp.add_argument(
            "--keys-dir",
            type=Path,
            default=None,
            help="trusted signers' public keys (default: the config's [firmware] keys_dir)",
        )

    fl = add("flash", "check an image, then flash it onto a board and verify it")
    board_args(fl)
    keys_arg(fl)
    fl.add_argument(
        "--allow-downgrade", action="store_true", help="flash a version older than the board's"
    )
    fl.add_argument("image", type=Path, help="a signed image: binary (.ccfw) or Intel HEX")
    board_args(add("info", "show the board's id, firmware version and flash size"))
    ve = add("verify", "check that the board holds an image (read-back CRC and version)")
    board_args(ve)
    keys_arg(ve)
    ve.add_argument("image", type=Path)
    si = add("sign", "sign a payload (binary or Intel HEX) into an image, for board vendors")
    si.add_argument("--key", required=True, type=Path, help="the private key (PEM)")
    si.add_argument("--board", required=True, help="the board id the image is for")
    si.add_argument("--version", required=True, help="major.minor.patch")
    si.add_argument("--out", required=True, type=Path, help="the image (.hex: Intel HEX)")
    si.add_argument("payload", type=Path)
    kg = add("keygen", "make a signing key (PEM, mode 0600) and its public key beside it")
    kg.add_argument("--out", required=True, type=Path, help="the private key file to create")


def needs_keys(args: argparse.Namespace) -> bool:
    return args.firmware in ("flash", "verify") and args.keys_dir is None


def main(args: argparse.Namespace) -> int:
    return int(
        {"flash": _flash, "info": _info, "verify": _verify, "sign": _sign, "keygen": _keygen}[
            args.firmware
        ](args)
    )


def _say(text: str) -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(f"ccbox: {text}", file=sys.stderr, flush=True)


def _checked_image(args: argparse.Namespace) -> Any:
    """The image, its signature checked; None (after saying why) when it cannot be used."""
    from firmware_tools.image import ImageError, read_image
    from firmware_tools.signing import check_signature, load_trusted_keys

    try:
        image = read_image(args.image)
    except ImageError as exc:
        _err(f"refused: {exc}")
        return None
    try:
        signer = check_signature(image, load_trusted_keys(args.keys_dir))
    except ImageError as exc:
        _err(f"refused: {args.image.name}: {exc}")
        return None
    _say(
        f"image: board {image.board}, version {image.version}, {len(image.payload)} bytes,"
        f" CRC32 {image.crc32:08x}, signed by {signer.name}"
    )
    return image


def _drive(args: argparse.Namespace, work: Callable[[Any], Any]) -> tuple[Any, Any, bool]:
    """Run ``work(session)`` in a reactor: (result, exception, cancelled). Ctrl-C cancels
    once (CAN CAN when transferring); a second Ctrl-C stops at once."""
    from twisted.internet import reactor as _reactor

    from firmware_tools.flash import Session, run

    reactor: Any = _reactor
    session = Session(reactor, args.device, args.baudrate)
    box: dict[str, Any] = {}

    def interrupted(*_: Any) -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        reactor.callFromThread(session.cancel)

    def start() -> None:
        d = run(session, lambda: work(session))
        d.addCallbacks(
            lambda r: box.__setitem__("result", r),
            lambda f: box.__setitem__("error", f.value),
        )
        d.addBoth(lambda _: reactor.stop())

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)
    finally:
        signal.signal(signal.SIGINT, previous)
    return box.get("result"), box.get("error"), session.cancelled


def _failed(error: BaseException, cancelled: bool) -> int:
    from firmware_tools.flash import Refused

    if cancelled:
        _err("cancelled: the board stays in its bootloader until a flash completes")
        return CANCELLED
    if isinstance(error, Refused):
        _err(f"refused, nothing erased: {error}")
        return REFUSED
    _err(f"{error}")
    return BOARD_FAILED


class ProgressBar:
    """A bar redrawn in place on a terminal; a plain line every 10 % otherwise."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.shown = -10
        self.mid_line = False  # a bar drawn on a terminal, its line not ended yet

    def end_line(self) -> None:
        """Before a message: the bar's line ends where it stopped."""
        if self.mid_line:
            print(file=self.stream, flush=True)
            self.mid_line = False

    def __call__(self, done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        rate = done / max(time.monotonic() - self.started, 1e-3) / 1024
        width = 30
        filled = width * percent // 100
        text = (
            f"[{'#' * filled}{'.' * (width - filled)}] {percent:3d}%"
            f"  {done}/{total} bytes  {rate:.1f} KiB/s"
        )
        if self.tty:
            self.mid_line = done < total
            print("\r" + text, end="" if self.mid_line else "\n", file=self.stream, flush=True)
        elif percent >= self.shown + 10 or done >= total:
            self.shown = percent
            print(text, file=self.stream, flush=True)


def _flash(args: argparse.Namespace) -> int:
    image = _checked_image(args)
    if image is None:
        return REFUSED

    def on_info(info: Any) -> None:
        _say(
            f"board {info.board} (bootloader {info.bootloader}) runs"
            f" {info.version or 'no valid firmware'}; flash {info.flash_size} bytes"
        )

    bar = ProgressBar()
    result, error, cancelled = _drive(
        args,
        lambda s: s.flash(
            image, allow_downgrade=args.allow_downgrade, progress=bar, on_info=on_info
        ),
    )
    bar.end_line()
    if error is not None or cancelled:
        return _failed(error, cancelled)
    _say(
        f"flashed and verified: {image.board} runs {image.version}"
        f" (read-back CRC32 {result.image_crc:08x})"
    )
    return OK


def _info(args: argparse.Namespace) -> int:
    info, error, cancelled = _drive(args, lambda s: s.info())
    if error is not None or cancelled:
        return _failed(error, cancelled)
    _say(f"board: {info.board}")
    _say(f"firmware: {info.version or 'none (no valid image: the bootloader is running)'}")
    _say(f"flash: {info.flash_size} bytes")
    _say(f"bootloader: {info.bootloader}")
    return OK


def _verify(args: argparse.Namespace) -> int:
    image = _checked_image(args)
    if image is None:
        return REFUSED
    result, error, cancelled = _drive(args, lambda s: s.verify(image))
    if error is not None or cancelled:
        return _failed(error, cancelled)
    info = result.info
    if result.matches:
        _say(f"matches: {info.board} holds {image.version} (CRC32 {result.board_crc:08x})")
        return OK
    _say(
        f"differs: the board ({info.board}, {info.version or 'no valid image'}, CRC32"
        f" {result.board_crc:08x}) does not hold this image ({image.board}, {image.version},"
        f" CRC32 {image.crc32:08x})"
    )
    return MISMATCH


def _sign(args: argparse.Namespace) -> int:
    from firmware_tools.image import ImageError, Version, bytes_to_hex, read_payload
    from firmware_tools.signing import load_private_key, sign, write_new

    try:
        version = Version.parse(args.version)
    except ValueError as exc:
        _err(str(exc))
        return ERROR
    try:
        key = load_private_key(args.key)
        image = sign(read_payload(args.payload), args.board, version, key)
        data = image.to_bytes()
        if args.out.suffix.lower() in (".hex", ".ihex"):
            data = bytes_to_hex(data).encode("ascii")
        write_new(args.out, data, 0o644)
    except ImageError as exc:
        _err(str(exc))
        return ERROR
    _say(f"{args.out}: board {image.board}, version {image.version}, {len(image.payload)} bytes")
    return OK


def _keygen(args: argparse.Namespace) -> int:
    from firmware_tools.signing import SignatureError, make_key_pair

    try:
        public = make_key_pair(args.out)
    except SignatureError as exc:
        _err(str(exc))
        return ERROR
    _say(f"{args.out}: the private key (keep it off the boxes)")
    _say(f"{public}: the public key (copy it into each box's [firmware] keys_dir)")
    return OK
