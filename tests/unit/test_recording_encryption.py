"""Recordings encrypted at rest: round trips of every size around the chunk boundaries,
random access that decrypts only the chunks a range covers, and clear refusals of a wrong
key, a flipped byte, a truncated, extended or reordered file and a bad key file."""

from __future__ import annotations

import io
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from appliance import cli
from recorder import encryption
from recorder.encryption import CHUNK, HEADER_BYTES, TAG_BYTES, EncryptionError, KeyFileError
from recorder.storage import open_stored

KEY = bytes(range(32))


def sealed(plain: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    encryption.encrypt_bytes(plain, key, out)
    return out.getvalue()


def stored(tmp_path: Path, data: bytes, name: str = "r.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 7])
def test_round_trip_at_every_boundary(tmp_path: Path, size: int) -> None:
    plain = secrets.token_bytes(size)
    data = sealed(plain)
    chunks = max(1, -(-size // CHUNK))
    assert len(data) == HEADER_BYTES + size + chunks * TAG_BYTES
    # the plaintext is not in the file (a run this short could occur in it by chance)
    assert plain[:64] not in data or size < 16
    assert encryption.decrypt_file(stored(tmp_path, data), KEY) == plain


def test_writes_in_small_pieces_equal_one_write(tmp_path: Path) -> None:
    plain = secrets.token_bytes(3 * CHUNK + 100)
    out = io.BytesIO()
    w = encryption.EncryptingWriter(out, KEY)
    for i in range(0, len(plain), 1000):
        w.write(plain[i : i + 1000])
    w.finish()
    assert encryption.decrypt_file(stored(tmp_path, out.getvalue()), KEY) == plain


def test_random_access_decrypts_only_the_chunks_a_range_covers(tmp_path: Path) -> None:
    plain = secrets.token_bytes(10 * CHUNK + 123)
    audio = open_stored(stored(tmp_path, sealed(plain)), "wav", encrypted=True, key=KEY)
    assert (audio.size, audio.content_type) == (len(plain), "audio/wav")
    reader: Any = audio._file._reader  # type: ignore[attr-defined]
    calls: list[bytes] = []
    real = reader._aead

    class Counting:
        def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
            calls.append(aad[-9:])
            return bytes(real.decrypt(nonce, data, aad))

    reader._aead = Counting()
    a = 4 * CHUNK + 10
    assert audio.read(a, 2 * CHUNK) == plain[a : a + 2 * CHUNK]
    assert len(calls) == 3  # chunks 4, 5 and 6, nothing else
    assert audio.read(len(plain) - 5, 100) == plain[-5:]  # cut at the end
    assert audio.read(len(plain) + 10, 100) == b""
    audio.close()


def test_a_wrong_key_a_flipped_byte_and_a_foreign_file_are_refused(tmp_path: Path) -> None:
    plain = secrets.token_bytes(2 * CHUNK + 5)
    data = sealed(plain)
    path = stored(tmp_path, data)
    with pytest.raises(EncryptionError, match="another key"):
        open_stored(path, "wav", encrypted=True, key=bytes(32))
    flipped = bytearray(data)
    flipped[HEADER_BYTES + 100] ^= 1  # inside chunk 0
    reader = open_stored(stored(tmp_path, bytes(flipped), "f.wav"), "wav", True, KEY)
    assert reader.read(CHUNK + 1, 10) == plain[CHUNK + 1 : CHUNK + 11]  # chunk 1 is fine
    with pytest.raises(EncryptionError, match="chunk 0 fails its integrity check"):
        reader.read(0, 10)
    header = bytearray(data)
    header[HEADER_BYTES - 1] ^= 1  # the base nonce, bound by the AAD
    with pytest.raises(EncryptionError, match="integrity"):
        encryption.decrypt_file(stored(tmp_path, bytes(header), "h.wav"), KEY)
    with pytest.raises(EncryptionError, match="no ccbox header"):
        open_stored(stored(tmp_path, b"RIFF" + bytes(100), "p.wav"), "wav", True, KEY)
    with pytest.raises(KeyFileError, match="no \\[recording\\] encryption_key_file"):
        open_stored(path, "wav", encrypted=True, key=None)


def test_truncation_appending_and_reordering_are_detected(tmp_path: Path) -> None:
    plain = secrets.token_bytes(3 * CHUNK)
    data = sealed(plain)
    whole = CHUNK + TAG_BYTES
    cut_at_boundary = data[: HEADER_BYTES + 2 * whole]
    with pytest.raises(EncryptionError, match="chunk 1 fails"):
        open_stored(stored(tmp_path, cut_at_boundary, "a.wav"), "wav", True, KEY)
    with pytest.raises(EncryptionError, match="fails"):
        open_stored(stored(tmp_path, data[:-1], "b.wav"), "wav", True, KEY)
    with pytest.raises(EncryptionError, match="truncated"):
        open_stored(stored(tmp_path, data[: HEADER_BYTES + 3], "c.wav"), "wav", True, KEY)
    with pytest.raises(EncryptionError, match="fails"):
        open_stored(
            stored(tmp_path, data + sealed(b"more")[HEADER_BYTES:], "d.wav"), "wav", True, KEY
        )
    body = data[HEADER_BYTES:]
    swapped = data[:HEADER_BYTES] + body[whole : 2 * whole] + body[:whole] + body[2 * whole :]
    reader = open_stored(stored(tmp_path, swapped, "e.wav"), "wav", True, KEY)
    with pytest.raises(EncryptionError, match="chunk 0 fails"):
        reader.read(0, 1)


def test_plain_files_and_content_types(tmp_path: Path) -> None:
    path = stored(tmp_path, b"0123456789", "x.flac")
    audio = open_stored(path, "flac")
    assert (audio.size, audio.content_type, audio.read(3, 4)) == (10, "audio/flac", b"3456")
    audio.close()
    assert open_stored(path, "opus").content_type == "audio/ogg"


def test_key_files(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    encryption.write_new_key(key_file)
    assert (os.stat(key_file).st_mode & 0o777) == 0o600
    key = encryption.load_key(key_file)
    assert encryption.configured_key(key_file) == key and encryption.configured_key(None) is None
    assert len(key) == 32 and key != bytes(32)
    with pytest.raises(KeyFileError, match="exists already"):
        encryption.write_new_key(key_file)
    assert encryption.load_key(key_file) == key  # not overwritten
    os.chmod(key_file, 0o640)
    with pytest.raises(KeyFileError, match=r"readable by group or others.*chmod 600"):
        encryption.load_key(key_file)
    short = tmp_path / "short"
    short.write_bytes(bytes(31))
    short.chmod(0o600)
    with pytest.raises(KeyFileError, match="31 bytes, a key is exactly 32"):
        encryption.load_key(short)
    long = tmp_path / "long"
    long.write_bytes(bytes(64))
    long.chmod(0o600)
    with pytest.raises(KeyFileError, match="more than 32"):
        encryption.load_key(long)
    with pytest.raises(KeyFileError, match="No such file"):
        encryption.load_key(tmp_path / "none")


def test_the_recording_key_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "recording.key"
    assert cli.main(["recording-key", "--out", str(out)]) == 0
    assert (os.stat(out).st_mode & 0o777) == 0o600 and len(out.read_bytes()) == 32
    first = out.read_bytes()
    assert cli.main(["recording-key", "--out", str(out)]) == 1
    assert "exists already" in capsys.readouterr().err
    assert out.read_bytes() == first
