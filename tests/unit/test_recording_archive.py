"""The archive copy of a WAV recording: FLAC is lossless (decoded samples equal the WAV's),
Opus is an Ogg Opus file of the same length, an encrypted recording stays encrypted, and a
bad source leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from drivers.audio import g711
from recorder import archive, encryption
from recorder.archive import ArchiveError
from recorder.postprocess import merge

KEY = bytes(range(32))
RATE = 8000


def legs(tmp: Path, seconds: float = 3.0) -> tuple[Path, Path]:
    n = int(seconds * RATE)
    left = np.array([8000 * math.sin(2 * math.pi * 440 * i / RATE) for i in range(n)], "<i2")
    right = np.array([5000 * math.sin(2 * math.pi * 700 * i / RATE) for i in range(n)], "<i2")
    rx, tx = tmp / "c-rx.ulaw", tmp / "c-tx.ulaw"
    rx.write_bytes(g711.ulaw_encode(left.tobytes()))
    tx.write_bytes(g711.ulaw_encode(right.tobytes()))
    return rx, tx


def a_wav(root: Path, key: bytes | None = None) -> str:
    rx, tx = legs(root)
    merge(rx, tx, root / "2026/01/02/call1.wav", key)
    return "2026/01/02/call1.wav"


def test_flac_is_lossless_and_the_wav_is_left_for_the_caller(tmp_path: Path) -> None:
    rel = a_wav(tmp_path)
    made = archive.compress(tmp_path, rel, False, "flac", None)
    assert (made.relative, made.format, made.encrypted) == ("2026/01/02/call1.flac", "flac", False)
    stored = (tmp_path / made.relative).read_bytes()
    assert made.sha256 == hashlib.sha256(stored).hexdigest()
    assert made.size_bytes == len(stored) < (tmp_path / rel).stat().st_size
    wav, _ = sf.read(tmp_path / rel, dtype="int16")
    flac, rate = sf.read(tmp_path / made.relative, dtype="int16")
    assert rate == RATE and flac.shape == wav.shape == (3 * RATE, 2)
    assert np.array_equal(flac, wav)
    assert (tmp_path / rel).exists()
    assert not list((tmp_path / "2026/01/02").glob(".tmp-*"))


def test_opus_is_an_ogg_opus_file_of_the_same_length(tmp_path: Path) -> None:
    rel = a_wav(tmp_path)
    made = archive.compress(tmp_path, rel, False, "opus", None)
    info = sf.info(tmp_path / made.relative)
    assert (made.format, info.format, info.subtype, info.channels) == ("opus", "OGG", "OPUS", 2)
    assert abs(info.frames / info.samplerate - 3.0) < 0.05
    assert made.size_bytes < (tmp_path / rel).stat().st_size // 5


def test_opus_falls_back_to_flac_when_libsndfile_has_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(archive.sf, "available_subtypes", lambda fmt: {"VORBIS": "Vorbis"})
    assert archive.effective_format("opus") == "flac"
    assert archive.effective_format("flac") == "flac"
    with pytest.raises(ArchiveError, match="unknown archive format"):
        archive.effective_format("mp3")


def test_an_encrypted_wav_becomes_an_encrypted_flac(tmp_path: Path) -> None:
    rel = a_wav(tmp_path, KEY)
    made = archive.compress(tmp_path, rel, True, "flac", KEY)
    assert made.encrypted
    stored = (tmp_path / made.relative).read_bytes()
    assert not stored.startswith(b"fLaC") and made.sha256 == hashlib.sha256(stored).hexdigest()
    flac, _ = sf.read(
        io.BytesIO(encryption.decrypt_file(tmp_path / made.relative, KEY)), dtype="int16"
    )
    wav, _ = sf.read(io.BytesIO(encryption.decrypt_file(tmp_path / rel, KEY)), dtype="int16")
    assert np.array_equal(flac, wav)
    with pytest.raises(ArchiveError, match="another key"):
        archive.compress(tmp_path, rel, True, "flac", bytes(32))


def test_a_bad_source_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "2026"
    folder.mkdir()
    (folder / "junk.wav").write_bytes(b"RIFF" + bytes(40) + b"not audio")
    with pytest.raises(ArchiveError, match=r"junk\.wav"):
        archive.compress(tmp_path, "2026/junk.wav", False, "flac", None)
    with pytest.raises(ArchiveError, match="no such file"):
        archive.compress(tmp_path, "2026/none.wav", False, "flac", None)
    with pytest.raises(ArchiveError, match="no such file"):
        archive.compress(tmp_path, "../etc/passwd", False, "flac", None)
    assert sorted(p.name for p in folder.iterdir()) == ["junk.wav"]


def test_remove_takes_only_regular_files_under_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.wav").symlink_to(outside)
    (root / "a.wav").write_bytes(b"y")
    assert archive.remove(root, "link.wav") is False
    assert archive.remove(root, "../outside.wav") is False
    assert outside.exists()
    assert archive.remove(root, "a.wav") is True and not (root / "a.wav").exists()
    assert archive.remove(root, "a.wav") is False
