"""Firmware images: a fixed header, the payload, an Ed25519 signature (docs/firmware.md).

A signed image is ``header (64 bytes) + payload + signature (64 bytes)``; the signature
covers header and payload. The same bytes travel as a binary file or as Intel HEX (the
header in the reserved region at the file's lowest address, the signature in the last 64
bytes, gaps filled with 0xFF). Every defect is an ``ImageError`` whose text says which.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import bincopy

MAGIC = b"CCFW"
FORMAT_VERSION = 1
HEADER_SIZE = 64
SIGNATURE_SIZE = 64
# Boards with a serial bootloader hold a few MiB at most: past this a length is a defect.
MAX_PAYLOAD = 16 * 1024 * 1024
MAX_BINARY_FILE = HEADER_SIZE + MAX_PAYLOAD + SIGNATURE_SIZE
MAX_HEX_FILE = 3 * MAX_BINARY_FILE  # ':' + 2 hex digits a byte + record overhead
BOARD_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,15}")
KNOWN_FLAGS = 0  # format 1 defines no flag: an image with one needs a newer tool
_RECORD = re.compile(r":(?:[0-9A-Fa-f]{2}){5,}")  # length, address, type, data, checksum

# magic, format version, header size, board id, major, minor, patch, flags, length, crc32
_HEADER = struct.Struct("<4sHH16sHHHHII")
_RESERVED = HEADER_SIZE - _HEADER.size


class ImageError(ValueError):
    """A firmware image or file that cannot be used; the text names the defect."""


class Version(NamedTuple):
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @classmethod
    def parse(cls, text: str) -> Version:
        """``major.minor.patch``, each 0 to 65535."""
        parts = text.strip().split(".")
        if len(parts) != 3 or not all(p.isascii() and p.isdigit() and len(p) <= 5 for p in parts):
            raise ValueError(f"{text!r} is not a version (major.minor.patch)")
        numbers = [int(p) for p in parts]
        if any(n > 0xFFFF for n in numbers):
            raise ValueError(f"{text!r}: each part of a version is at most 65535")
        return cls(*numbers)


@dataclass(frozen=True)
class FirmwareImage:
    """A parsed image; ``signature`` is None when the file carries none."""

    board: str
    version: Version
    flags: int
    payload: bytes
    crc32: int
    signature: bytes | None

    @property
    def header(self) -> bytes:
        return pack_header(self.board, self.version, self.payload, self.flags)

    @property
    def signed_part(self) -> bytes:
        """What the signature covers: header + payload."""
        return self.header + self.payload

    def to_bytes(self) -> bytes:
        if self.signature is None:
            raise ImageError("the image is not signed")
        return self.signed_part + self.signature


def pack_header(board: str, version: Version, payload: bytes, flags: int = 0) -> bytes:
    if not BOARD_ID.fullmatch(board):
        raise ImageError(
            f"board id {board!r}: 1 to 16 characters, lower-case letters, digits, '.', '_', '-'"
        )
    if not payload:
        raise ImageError("the payload is empty")
    if len(payload) > MAX_PAYLOAD:
        raise ImageError(f"the payload is {len(payload)} bytes, more than {MAX_PAYLOAD}")
    fixed = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        HEADER_SIZE,
        board.encode("ascii").ljust(16, b"\0"),
        *version,
        flags,
        len(payload),
        zlib.crc32(payload),
    )
    return fixed + bytes(_RESERVED)


def parse_image(data: bytes) -> FirmwareImage:
    """The image in ``data`` (header + payload + signature), every field checked."""
    if len(data) < HEADER_SIZE:
        raise ImageError(f"truncated: {len(data)} bytes, less than the {HEADER_SIZE}-byte header")
    magic, fmt, size, board_raw, major, minor, patch, flags, length, crc = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ImageError(f"unknown magic {magic!r} (a ccbox firmware image starts with {MAGIC!r})")
    if fmt != FORMAT_VERSION:
        raise ImageError(f"image format {fmt} is not supported (this tool reads format 1)")
    if size != HEADER_SIZE or any(data[_HEADER.size : HEADER_SIZE]):
        raise ImageError("the header is damaged (size or reserved bytes)")
    board_bytes = board_raw.rstrip(b"\0")
    board = board_bytes.decode("ascii", "replace")
    if b"\0" in board_bytes or not BOARD_ID.fullmatch(board):
        raise ImageError(f"the header's board id {board_bytes!r} is not valid")
    if flags & ~KNOWN_FLAGS:
        raise ImageError(f"unknown flags 0x{flags:04x}: the image needs a newer flashing tool")
    if length == 0 or length > MAX_PAYLOAD:
        raise ImageError(f"absurd payload length {length} (1 to {MAX_PAYLOAD} bytes)")
    end = HEADER_SIZE + length
    if len(data) < end:
        raise ImageError(
            f"truncated: the header announces {length} payload bytes, the file holds "
            f"{len(data) - HEADER_SIZE}"
        )
    payload = data[HEADER_SIZE:end]
    actual = zlib.crc32(payload)
    if actual != crc:
        raise ImageError(f"bad CRC: the header says {crc:08x}, the payload's is {actual:08x}")
    rest = len(data) - end
    if rest == 0:
        signature = None
    elif rest == SIGNATURE_SIZE:
        signature = data[end:]
    else:
        raise ImageError(
            f"length mismatch: {rest} bytes after the payload, where a signature is "
            f"{SIGNATURE_SIZE} (or none)"
        )
    return FirmwareImage(board, Version(major, minor, patch), flags, payload, crc, signature)


# ---- files ----------------------------------------------------------------------------


def is_hex(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in (".hex", ".ihex") or head.lstrip()[:1] == b":"


def read_file_bytes(path: Path) -> bytes:
    """The image's bytes from a binary or an Intel HEX file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(16)
            hexfile = is_hex(path, head)
            limit = MAX_HEX_FILE if hexfile else MAX_BINARY_FILE
            if size > limit:
                raise ImageError(f"{path.name}: {size} bytes, more than any image ({limit})")
            data = head + f.read(limit + 1 - len(head))
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{path}: is a directory") from None
    except OSError as exc:
        raise ImageError(f"{path}: cannot be read: {exc.strerror}") from None
    return hex_to_bytes(data) if hexfile else data


def read_image(path: Path) -> FirmwareImage:
    """A signed (or unsigned) image from a file: binary or Intel HEX."""
    try:
        return parse_image(read_file_bytes(path))
    except ImageError as exc:
        raise ImageError(f"{path.name}: {exc}") from None


def hex_to_bytes(data: bytes) -> bytes:
    """The bytes an Intel HEX file holds, from its lowest to its highest address, gaps 0xFF.

    bincopy checks each record (checksum, length, type, extended segment and linear
    addresses) and refuses overlaps; the end-of-file record is checked here: it must be
    there, once, last.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ImageError("Intel HEX: not ASCII text") from None
    records = [line.strip() for line in text.splitlines() if line.strip()]
    # bincopy lets a non-hex digit through as binascii.Error or ValueError, and reads a
    # record with spaces inside; the type and length read here by position need pure hex.
    for n, line in enumerate(records, 1):
        if not _RECORD.fullmatch(line):
            raise ImageError(f"Intel HEX: record {n} is not ':' and hex digits")
    eof = [n for n, line in enumerate(records, 1) if line[7:9] == "01"]
    if not eof:
        raise ImageError("Intel HEX: no end-of-file record (the file is truncated)")
    if eof[0] != len(records):
        raise ImageError(f"Intel HEX: record {eof[0] + 1} comes after the end-of-file record")
    binfile = bincopy.BinFile()
    try:
        binfile.add_ihex(text)
    except bincopy.AddDataError:
        raise ImageError("Intel HEX: overlapping records") from None
    except bincopy.Error as exc:
        raise ImageError(f"Intel HEX: {exc}") from None
    if not binfile.segments:
        raise ImageError("Intel HEX: no data records")
    # bincopy refuses a record that overlaps the segment it joins, but one that bridges two
    # segments silently overwrites the second: every data byte must be held exactly once.
    announced = sum(int(line[1:3], 16) for line in records if line[7:9] == "00")
    if announced != sum(len(segment.data) for segment in binfile.segments):
        raise ImageError("Intel HEX: overlapping records")
    span = binfile.maximum_address - binfile.minimum_address
    if span > MAX_BINARY_FILE:
        raise ImageError(f"Intel HEX: the data spans {span} bytes, more than any image")
    return bytes(binfile.as_binary(padding=b"\xff"))


def bytes_to_hex(data: bytes, address: int = 0) -> str:
    binfile = bincopy.BinFile()
    binfile.add_binary(data, address)
    return str(binfile.as_ihex())


def read_payload(path: Path) -> bytes:
    """A vendor's raw firmware (binary or Intel HEX) to sign."""
    data = read_file_bytes(path)
    if not data:
        raise ImageError(f"{path.name}: empty")
    if len(data) > MAX_PAYLOAD:
        raise ImageError(f"{path.name}: {len(data)} bytes, more than {MAX_PAYLOAD}")
    return data
