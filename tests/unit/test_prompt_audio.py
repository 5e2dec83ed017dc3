"""Prompt uploads: every accepted container converted to the switch format, every hostile or
broken upload refused with a message a person can act on, and atomic writes."""

from __future__ import annotations

import hashlib
import io
import os
import random
import struct
import time
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ivr import prompt_audio
from ivr.prompt_audio import (
    MAX_UPLOAD_BYTES,
    ConvertedPrompt,
    PromptAudioError,
    convert_upload,
    tone_wav,
    write_atomically,
)


def stereo_tone(freq: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * freq * t)
    return np.stack([left, left], axis=1).astype(np.float32)


def encode(data: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def read_switch_wav(data: bytes) -> np.ndarray:
    """The samples of a WAV, after checking it is exactly what the switch plays."""
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getcomptype() == "NONE"
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2")


def zero_crossings_per_s(samples: np.ndarray, rate: int = 8000) -> float:
    # skip the resampler's edges
    middle = samples[rate // 10 : -rate // 10]
    crossings = np.count_nonzero(np.diff(np.signbit(middle).astype(np.int8)))
    return crossings * rate / len(middle)


def refused(data: bytes) -> str:
    with pytest.raises(PromptAudioError) as info:
        convert_upload(data)
    assert isinstance(info.value, ValueError)
    return str(info.value)


# -- accepted uploads ---------------------------------------------------------------------------


def test_a_44k1_stereo_wav_becomes_8k_mono_with_its_duration_and_pitch() -> None:
    upload = encode(stereo_tone(440, 2.5, 44100), 44100, "WAV", "PCM_16")
    out = convert_upload(upload)
    assert isinstance(out, ConvertedPrompt)
    assert out.source_format == "wav"
    samples = read_switch_wav(out.wav)
    assert abs(len(samples) - 20000) <= 16  # 2.5 s at 8 kHz, within 2 ms
    assert abs(out.duration_ms - 2500) <= 2
    assert zero_crossings_per_s(samples) == pytest.approx(880, abs=4)
    rms = float(np.sqrt(np.mean(samples[800:-800].astype(np.float64) ** 2)))
    assert rms == pytest.approx(0.5 * 32768 / np.sqrt(2), rel=0.02)
    assert out.sha256 == hashlib.sha256(out.wav).hexdigest()


@pytest.mark.parametrize(
    ("fmt", "name"), [("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")], ids=str.lower
)
def test_flac_ogg_and_mp3_are_decoded(fmt: str, name: str) -> None:
    # the soundfile wheel's libsndfile writes MP3 itself (LAME), so no network or tool needed
    assert fmt in sf.available_formats()
    upload = encode(stereo_tone(1000, 1.5, 48000), 48000, fmt)
    out = convert_upload(upload)
    assert out.source_format == name
    samples = read_switch_wav(out.wav)
    assert abs(out.duration_ms - 1500) <= 30  # lossy codecs may pad a frame
    assert zero_crossings_per_s(samples) == pytest.approx(2000, abs=10)


def test_an_mp3_starting_with_an_id3_tag_is_recognised() -> None:
    mp3 = encode(stereo_tone(500, 1.0, 44100), 44100, "MP3")
    assert mp3[:3] != b"ID3"
    title = b"TIT2" + struct.pack(">I", 6) + b"\x00\x00" + b"\x00hello"
    tag = b"ID3\x03\x00\x00" + bytes([0, 0, 0, len(title)]) + title
    out = convert_upload(tag + mp3)
    assert out.source_format == "mp3"
    assert zero_crossings_per_s(read_switch_wav(out.wav)) == pytest.approx(1000, abs=6)


def test_an_8k_mono_wav_passes_through_unchanged() -> None:
    src = tone_wav(440, 1.0)
    out = convert_upload(src)
    assert out.wav == src
    assert out.duration_ms == 1000


def test_loud_float_input_is_clipped_not_wrapped() -> None:
    loud = np.full((8000, 1), 3.0, dtype=np.float32)
    loud[4000:] = -3.0
    out = read_switch_wav(convert_upload(encode(loud, 8000, "WAV", "FLOAT")).wav)
    assert out.max() == 32767
    assert out.min() == -32768
    assert np.all(out[:3900] == 32767)


def test_tone_wav_is_a_switch_wav_of_the_right_length_and_pitch() -> None:
    samples = read_switch_wav(tone_wav(400, 2.0))
    assert len(samples) == 16000
    assert zero_crossings_per_s(samples) == pytest.approx(800, abs=2)
    assert np.abs(samples).max() == pytest.approx(16384, abs=2)
    with wave.open(io.BytesIO(tone_wav(400, 0.5, rate=16000)), "rb") as w:
        assert (w.getframerate(), w.getnframes()) == (16000, 8000)


# -- refused uploads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"<html><script>alert(document.cookie)</script></html>", "HTML"),
        (b"\xef\xbb\xbf\n  <!DOCTYPE html><html><body>x</body></html>", "HTML"),
        (
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
            b"<script>alert(1)</script></svg>",
            "an SVG image",
        ),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "an SVG image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "a JPEG image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
        (b"PK\x03\x04\x14\x00\x00\x00" + bytes(64), "a ZIP archive"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64), "a WebP image"),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(64), "an MP4/M4A file"),
        (b"just some words, not a sound\n", "text"),
    ],
    ids=["html", "html-bom", "svg-xml", "svg", "png", "jpeg", "pdf", "zip", "webp", "m4a", "text"],
)
def test_non_audio_is_refused_naming_what_it_looks_like(data: bytes, what: str) -> None:
    assert refused(data).startswith(f"not an audio file: it looks like {what}")


def test_random_bytes_are_refused() -> None:
    noise = random.Random(7).randbytes(4096)
    assert refused(noise).startswith("not an audio file")


def test_an_mpeg_frame_header_followed_by_garbage_is_damaged_audio() -> None:
    # these random bytes happen to open with a valid MPEG-2.5 layer II frame header
    noise = bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8))
    assert prompt_audio.sniff(noise) == "mp3"
    assert refused(noise).startswith("damaged audio:")


def test_a_wav_cut_short_is_refused() -> None:
    whole = tone_wav(440, 10.0)
    assert struct.unpack_from("<I", whole, 40)[0] == 160000
    cut = whole[:1044]  # the header promises 160000 bytes, 1000 arrive
    assert refused(cut) == (
        "damaged audio: the file is cut short (the header promises 160000 bytes of sound, "
        "the file holds 1000)"
    )


def test_a_flac_cut_short_is_refused() -> None:
    whole = encode(stereo_tone(440, 3.0, 44100), 44100, "FLAC")
    assert refused(whole[: len(whole) // 2]).startswith("damaged audio:")


def test_a_wav_header_without_a_data_chunk_is_damaged() -> None:
    msg = refused(b"RIFF\x04\x00\x00\x00WAVE")
    assert msg.startswith("damaged audio:")
    assert "data" in msg


def test_an_empty_wav_is_refused() -> None:
    empty = tone_wav(440, 0.0)
    assert len(empty) == 44
    assert refused(empty) == "empty audio"
    assert refused(b"") == "empty file"


def test_an_oversize_upload_is_refused_before_anything_else() -> None:
    big = tone_wav(440, 0.1) + bytes(MAX_UPLOAD_BYTES)
    assert refused(big) == "file too large: 20.0 MB (the limit is 20 MB)"
    assert refused(b"<html>" + bytes(MAX_UPLOAD_BYTES)).startswith("file too large:")


def _ten_hour_wav() -> bytes:
    # a genuine 10-hour WAV kept small: 100 Hz, 8-bit unsigned silence (3.6 MB)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=100, channels=1, format="WAV", subtype="PCM_U8") as f:
        f.write(np.zeros(100 * 36000, dtype=np.int16))
    return buf.getvalue()


def _ten_hour_flac() -> bytes:
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", samplerate=100, channels=1, format="FLAC") as f:
        f.write(np.zeros(100 * 36000, dtype=np.int16))
    return buf.getvalue()


@pytest.mark.parametrize("make", [_ten_hour_wav, _ten_hour_flac], ids=["wav", "flac"])
def test_ten_hours_is_refused_from_the_header_before_decoding(
    make: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = make()  # type: ignore[operator]
    assert len(data) < MAX_UPLOAD_BYTES
    with sf.SoundFile(io.BytesIO(data)) as f:  # it really is ten hours
        assert f.frames / f.samplerate == 36000

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("samples were decoded before the duration was checked")

    monkeypatch.setattr(sf.SoundFile, "read", no_decoding)
    monkeypatch.setattr(sf.SoundFile, "buffer_read", no_decoding)
    started = time.monotonic()
    assert refused(data) == "too long: 36000 s (the limit is 600 s)"
    assert time.monotonic() - started < 0.5


def test_the_duration_cap_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    data = tone_wav(440, 3.0)
    assert convert_upload(data).duration_ms == 3000
    monkeypatch.setattr(prompt_audio, "MAX_DURATION_S", 2)
    assert refused(data) == "too long: 3 s (the limit is 2 s)"


# -- write_atomically ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "x;rm -rf", "$(id)", "a" * 4096, "", "-lead", "UPPER", "a.wav", "a\n", "é"],
)
def test_write_atomically_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="bad prompt file name"):
        write_atomically(tmp_path / "prompts", name, b"data")
    assert not (tmp_path / "prompts").exists() or not any((tmp_path / "prompts").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["prompts"])


def test_write_atomically_writes_creates_the_folder_and_replaces(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "prompts"
    path = write_atomically(folder, "welcome-1", b"first")
    assert path == folder / "welcome-1.wav"
    assert path.read_bytes() == b"first"
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
    write_atomically(folder, "welcome-1", b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in folder.iterdir()] == ["welcome-1.wav"]
    assert write_atomically(folder, "x" * 64, b"") == folder / f"{'x' * 64}.wav"


def test_a_failed_replace_leaves_neither_temp_nor_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        write_atomically(tmp_path, "prompt", b"x" * 100_000)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    write_atomically(tmp_path, "prompt", b"old")

    class NotBytes:
        """Data the file object cannot write: the write itself fails, after mkstemp."""

    with pytest.raises(TypeError):
        write_atomically(tmp_path, "prompt", NotBytes())  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.iterdir()] == ["prompt.wav"]
    assert (tmp_path / "prompt.wav").read_bytes() == b"old"


def test_a_failed_fsync_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError("I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="I/O error"):
        write_atomically(tmp_path / "new", "prompt", b"abc")
    assert list((tmp_path / "new").iterdir()) == []
