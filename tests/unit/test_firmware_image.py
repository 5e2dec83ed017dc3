"""Firmware images: the header, binary and Intel HEX files, each defect named, signatures."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from firmware_tools import image as img
from firmware_tools.image import ImageError, Version, bytes_to_hex, parse_image, read_image
from firmware_tools.signing import (
    SignatureError,
    check_signature,
    load_private_key,
    load_trusted_keys,
    make_key_pair,
    sign,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PAYLOAD = bytes(range(256)) * 10


def signed(payload: bytes = PAYLOAD, board: str = "ccbox-io", version: str = "1.2.3") -> bytes:
    return sign(payload, board, Version.parse(version), KEY).to_bytes()


def refused(data: bytes) -> str:
    with pytest.raises(ImageError) as info:
        parse_image(data)
    return str(info.value)


def test_a_signed_image_reads_back_field_for_field() -> None:
    image = parse_image(signed())
    assert (image.board, image.version, image.flags) == ("ccbox-io", Version(1, 2, 3), 0)
    assert image.payload == PAYLOAD and image.crc32 == zlib.crc32(PAYLOAD)
    assert image.signature is not None and len(image.signature) == 64
    assert image.to_bytes() == signed()
    assert len(image.header) == img.HEADER_SIZE and image.header[:4] == b"CCFW"


def test_each_defect_of_a_binary_image_is_named() -> None:
    good = signed()
    assert refused(good[:40]).startswith("truncated: 40 bytes")
    assert "the file holds 100" in refused(good[: 64 + 100])
    assert "unknown magic b'XXFW'" in refused(b"XXFW" + good[4:])
    assert "image format 9" in refused(good[:4] + struct.pack("<H", 9) + good[6:])
    flipped = bytearray(good)
    flipped[64 + 5] ^= 0xFF
    assert refused(bytes(flipped)).startswith("bad CRC: the header says")
    assert "length mismatch: 65 bytes after the payload" in refused(good + b"x")
    assert "length mismatch: 63 bytes" in refused(good[:-1])
    huge = bytearray(good)
    huge[32:36] = struct.pack("<I", img.MAX_PAYLOAD + 1)
    assert refused(bytes(huge)).startswith("absurd payload length")
    zero = bytearray(good)
    zero[32:36] = bytes(4)
    assert refused(bytes(zero)).startswith("absurd payload length 0")
    flagged = bytearray(good)
    flagged[30:32] = struct.pack("<H", 4)
    assert "unknown flags 0x0004" in refused(bytes(flagged))
    board = bytearray(good)
    board[8:12] = b"A B\0"
    assert "board id" in refused(bytes(board))
    reserved = bytearray(good)
    reserved[60] = 1
    assert "reserved" in refused(bytes(reserved))
    assert parse_image(good[:-64]).signature is None  # unsigned: readable, refused later


def test_versions_and_board_ids_are_checked_when_signing() -> None:
    assert Version.parse("10.0.65535") > Version.parse("9.99.99")
    for bad in ("1.2", "1.2.3.4", "1.x.3", "1.2.65536", "-1.2.3"):
        with pytest.raises(ValueError):
            Version.parse(bad)
    with pytest.raises(ImageError, match="board id"):
        signed(board="Bad Board")
    with pytest.raises(ImageError, match="empty"):
        signed(payload=b"")


def test_an_intel_hex_image_reads_as_its_binary_twin(tmp_path: Path) -> None:
    (tmp_path / "fw.hex").write_text(bytes_to_hex(signed(), address=0x08000000))
    (tmp_path / "fw.ccfw").write_bytes(signed())
    assert read_image(tmp_path / "fw.hex") == read_image(tmp_path / "fw.ccfw")


def hex_file(tmp_path: Path, *records: str) -> Path:
    path = tmp_path / "p.hex"
    path.write_text("\n".join(records) + "\n")
    return path


def record(kind: int, address: int, data: bytes) -> str:
    body = bytes([len(data)]) + address.to_bytes(2, "big") + bytes([kind]) + data
    return ":" + (body + bytes([-sum(body) & 0xFF])).hex().upper()


EOF = ":00000001FF"


def test_intel_hex_addresses_and_gaps(tmp_path: Path) -> None:
    """Extended linear (04) and segment (02) addresses place the data; a gap reads 0xFF."""
    linear = hex_file(
        tmp_path,
        record(4, 0, b"\x00\x01"),
        record(0, 0x0000, b"\x11\x22"),
        record(0, 0x0004, b"\x33"),
        EOF,
    )
    assert img.read_payload(linear) == b"\x11\x22\xff\xff\x33"
    segment = hex_file(tmp_path, record(2, 0, b"\x10\x00"), record(0, 0, b"\xaa"), EOF)
    assert img.read_payload(segment) == b"\xaa"


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ([record(0, 0, b"\x01\x02")], "no end-of-file record"),
        ([EOF, record(0, 0, b"\x01")], "after the end-of-file record"),
        ([record(0, 0, b"\x01\x02\x03\x04"), record(0, 2, b"\x05\x06"), EOF], "overlapping"),
        # a record bridging two segments over the second's start (bincopy keeps the last)
        (
            [record(0, 0, b"\x01" * 4), record(0, 8, b"\x02" * 4), record(0, 4, b"\x03" * 8), EOF],
            "overlapping",
        ),
        ([record(0, 0, b"\x01\x02")[:-2] + "00", EOF], "expected crc"),
        ([":0400000001F2", EOF], "wrong size"),
        (["hello", EOF], "record 1 is not ':' and hex digits"),
        ([":0G000000FF", EOF], "record 1 is not ':' and hex digits"),  # was a ValueError
        ([":01 0000 00 41 BE", EOF], "record 1 is not ':' and hex digits"),
        ([EOF], "no data records"),
    ],
)
def test_each_defect_of_an_intel_hex_file_is_named(
    tmp_path: Path, records: list[str], message: str
) -> None:
    with pytest.raises(ImageError, match=message):
        img.read_payload(hex_file(tmp_path, *records))


def test_files_that_are_no_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        read_image(tmp_path / "missing.ccfw")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)
    (tmp_path / "t.hex").write_bytes(b":\xff\xfe\n")
    with pytest.raises(ImageError, match="not ASCII"):
        read_image(tmp_path / "t.hex")
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(img.MAX_BINARY_FILE + 1)
    with pytest.raises(ImageError, match="more than any image"):
        read_image(big)


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_signatures_against_the_trusted_keys(tmp_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.pem").write_bytes(public_pem(other))
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    (tmp_path / "vendor.key").write_bytes(raw)
    (tmp_path / ".hidden").write_bytes(b"ignored")
    keys = load_trusted_keys(tmp_path)
    assert [k.name for k in keys] == ["other.pem", "vendor.key"]
    assert check_signature(parse_image(signed()), keys).name == "vendor.key"
    with pytest.raises(SignatureError, match="not signed"):
        check_signature(parse_image(signed()[:-64]), keys)
    by_other = sign(PAYLOAD, "ccbox-io", Version(1, 2, 3), other).to_bytes()
    assert check_signature(parse_image(by_other), keys).name == "other.pem"
    # a header changed after signing (a version bumped to dodge the downgrade check)
    forged = bytearray(signed())
    forged[24:26] = struct.pack("<H", 9)
    with pytest.raises(SignatureError, match="bad signature: no trusted key"):
        check_signature(parse_image(bytes(forged)), keys[1:])


def test_key_directories_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="does not exist"):
        load_trusted_keys(tmp_path / "none")
    with pytest.raises(SignatureError, match="no trusted keys in"):
        load_trusted_keys(tmp_path)
    (tmp_path / "junk.pem").write_bytes(
        b"-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"
    )
    with pytest.raises(SignatureError, match=r"junk\.pem: not a PEM public key"):
        load_trusted_keys(tmp_path)
    (tmp_path / "junk.pem").write_bytes(b"short")
    with pytest.raises(SignatureError, match="neither a PEM public key nor 32 raw bytes"):
        load_trusted_keys(tmp_path)
    (tmp_path / "junk.pem").write_bytes(b"-" * 5000)
    with pytest.raises(SignatureError, match="too large for a public key"):
        load_trusted_keys(tmp_path)
    (tmp_path / "junk.pem").unlink()
    # a file whose read fails (as an unreadable one does, even for root): said, no traceback
    (tmp_path / "broken.pem").symlink_to("/proc/self/mem")
    with pytest.raises(SignatureError, match=r"broken\.pem: cannot be read: "):
        load_trusted_keys(tmp_path)


def test_keygen_makes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    private = tmp_path / "vendor.pem"
    public = make_key_pair(private)
    assert public == tmp_path / "vendor.pub.pem"
    assert os.stat(private).st_mode & 0o777 == 0o600
    image = parse_image(sign(PAYLOAD, "b", Version(1, 0, 0), load_private_key(private)).to_bytes())
    keys = tmp_path / "keys"
    keys.mkdir()
    public = public.rename(keys / public.name)
    assert check_signature(image, load_trusted_keys(keys)).name == "vendor.pub.pem"
    with pytest.raises(SignatureError, match="exists: not overwritten"):
        make_key_pair(private)
    with pytest.raises(SignatureError, match="not an unencrypted PEM private key"):
        load_private_key(public)
