"""Post-processing one recording: two G.711 legs with known speech become a stereo WAV with
the right metrics; bad legs are refused and nothing half-written is left."""

from __future__ import annotations

import array
import errno
import hashlib
import math
import os
import wave
from pathlib import Path

import pytest

from drivers.audio import g711
from recorder import encryption
from recorder.postprocess import DiskFull, NothingRecorded, RecordingError, merge

RATE = 8000


def tone(seconds: float, freq: float = 440.0) -> bytes:
    n = int(seconds * RATE)
    return array.array(
        "h", (int(8000 * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n))
    ).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * RATE))


def test_a_call_with_known_speech(tmp_path: Path) -> None:
    # caller speaks 0-2 s; agent 1.5-3 s; nobody 3-4 s (the agent's leg stops at 3.8 s)
    (tmp_path / "c-rx.alaw").write_bytes(g711.alaw_encode(tone(2) + silence(2)))
    (tmp_path / "c-tx.alaw").write_bytes(
        g711.alaw_encode(silence(1.5) + tone(1.5, 700) + silence(0.8))
    )
    out = tmp_path / "2026" / "c.wav"
    done = merge(tmp_path / "c-rx.alaw", tmp_path / "c-tx.alaw", out)
    assert (done.duration_ms, done.legs_mismatch_ms) == (4000, 200)
    with wave.open(str(out)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth(), w.getnframes()) == (
            2,
            8000,
            2,
            32000,
        )
    assert done.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert done.size_bytes == out.stat().st_size
    # 20 ms frames: 200 in all; talk-over 1.5-2 s (+ the caller's hangover of 10 frames)
    assert done.talk_over_ratio == pytest.approx(35 / 200, abs=0.005)
    assert done.caller_talk_ratio == pytest.approx(110 / 200, abs=0.005)
    assert done.agent_talk_ratio == pytest.approx(85 / 200, abs=0.005)
    assert done.silence_ratio == pytest.approx(1 - (110 + 85 - 35) / 200, abs=0.005)
    assert len(done.peaks) == 200 and max(done.peaks) > 7000 and done.peaks[-1] == 8
    assert [p.name for p in out.parent.iterdir()] == ["c.wav"]  # no temporary left


def test_a_missing_leg_is_silence_and_bad_legs_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a-rx.ulaw").write_bytes(g711.ulaw_encode(tone(1)))
    done = merge(tmp_path / "a-rx.ulaw", tmp_path / "a-tx.ulaw", tmp_path / "a.wav")
    assert (done.duration_ms, done.agent_talk_ratio) == (1000, 0.0)
    with pytest.raises(NothingRecorded, match="neither leg"):  # never bridged: no recording
        merge(tmp_path / "x-rx.ulaw", tmp_path / "x-tx.ulaw", tmp_path / "x.wav")
    with pytest.raises(RecordingError, match=r"different G\.711 laws"):
        merge(tmp_path / "a-rx.ulaw", tmp_path / "a-tx.alaw", tmp_path / "y.wav")
    (tmp_path / "b.wav49").write_bytes(b"x")
    with pytest.raises(RecordingError, match=r"not a raw G\.711 leg"):
        merge(tmp_path / "b.wav49", tmp_path / "b.wav49", tmp_path / "z.wav")
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "y.wav").exists()


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_leaves_nothing_and_keeps_the_legs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    rx = tmp_path / "a-rx.ulaw"
    rx.write_bytes(g711.ulaw_encode(tone(0.2)))

    def full(*args: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("recorder.postprocess.os.fsync", full)
    with pytest.raises(DiskFull, match="the recording disk is full") as caught:
        merge(rx, tmp_path / "a-tx.ulaw", tmp_path / "out" / "a.wav")
    assert isinstance(caught.value, RecordingError)
    assert list((tmp_path / "out").iterdir()) == []
    assert rx.exists()


def test_other_write_errors_are_not_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a-rx.ulaw").write_bytes(g711.ulaw_encode(tone(0.2)))

    def denied(*args: object) -> None:
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("recorder.postprocess.os.replace", denied)
    with pytest.raises(OSError, match="Permission denied"):
        merge(tmp_path / "a-rx.ulaw", tmp_path / "a-tx.ulaw", tmp_path / "out" / "a.wav")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_encrypted_merge(tmp_path: Path) -> None:
    key = bytes(range(32))
    (tmp_path / "c-rx.ulaw").write_bytes(g711.ulaw_encode(tone(3)))
    (tmp_path / "c-tx.ulaw").write_bytes(g711.ulaw_encode(silence(1) + tone(2, 700)))
    plain = merge(tmp_path / "c-rx.ulaw", tmp_path / "c-tx.ulaw", tmp_path / "p.wav")
    done = merge(tmp_path / "c-rx.ulaw", tmp_path / "c-tx.ulaw", tmp_path / "e.wav", key)
    stored = (tmp_path / "e.wav").read_bytes()
    assert (done.encrypted, plain.encrypted) == (True, False)
    assert not stored.startswith(b"RIFF")
    assert done.sha256 == hashlib.sha256(stored).hexdigest() != plain.sha256
    assert done.size_bytes == len(stored) > plain.size_bytes
    assert (done.duration_ms, done.peaks, done.talk_over_ratio) == (
        plain.duration_ms,
        plain.peaks,
        plain.talk_over_ratio,
    )
    assert encryption.decrypt_file(tmp_path / "e.wav", key) == (tmp_path / "p.wav").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".part") == []
