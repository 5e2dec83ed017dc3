"""Prompt uploads (``prompt_audio.convert_upload``, what the web UI's upload runs) under
hypothesis: the bytes are a browser's, so anything.

Any bytes are converted to the switch's format or refused with PromptAudioError (a message
for the person who uploaded them); never another exception. Valid files cut or with bytes
overwritten anywhere (the header included) too. A sound at any rate, in WAV or FLAC, comes
back as 8 kHz mono 16-bit of the same length.
"""

from __future__ import annotations

import io
import wave
from functools import cache

import numpy as np
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from ivr.prompt_audio import ConvertedPrompt, PromptAudioError, convert_upload, pcm16_wav
from tests.fuzz.budget import fuzz

RATES = [8000, 11025, 16000, 22050, 44100, 48000]


def _encoded(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    if fmt == "WAV":
        return pcm16_wav(samples, rate)
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt)
    return buf.getvalue()


@cache
def _seed(fmt: str, rate: int, channels: int) -> bytes:
    t = np.arange(rate // 10) / rate
    tone = 0.4 * np.sin(2 * np.pi * 440 * t)
    if channels == 1:
        return _encoded(tone, rate, fmt)
    buf = io.BytesIO()
    sf.write(buf, np.stack([tone] * channels, axis=1), rate, format=fmt)
    return buf.getvalue()


def _check(data: bytes) -> ConvertedPrompt | None:
    try:
        out = convert_upload(data)
    except PromptAudioError as exc:
        assert str(exc)  # a message for the person who uploaded it
        return None
    with wave.open(io.BytesIO(out.wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() * 1000 // 8000 in range(out.duration_ms - 1, out.duration_ms + 1)
    return out


_MAGIC = st.sampled_from([b"RIFF\x00\x00\x00\x00WAVEfmt ", b"fLaC", b"OggS", b"ID3", b"\xff\xfb"])


@fuzz(300)
@given(
    data=st.one_of(
        st.binary(max_size=200), st.tuples(_MAGIC, st.binary(max_size=200)).map(b"".join)
    )
)
def test_any_bytes_are_converted_or_refused(data: bytes) -> None:
    _check(data)


@fuzz(300)
@given(
    fmt=st.sampled_from(["WAV", "FLAC", "OGG"]),
    rate=st.sampled_from(RATES),
    channels=st.sampled_from([1, 2]),
    writes=st.lists(st.tuples(st.integers(0, 4096), st.binary(min_size=1, max_size=8)), max_size=4),
    cut=st.none() | st.integers(0, 4096),
)
def test_a_damaged_file_is_converted_or_refused(
    fmt: str, rate: int, channels: int, writes: list[tuple[int, bytes]], cut: int | None
) -> None:
    data = bytearray(_seed(fmt, rate, channels))
    for at, junk in writes:
        at %= len(data)
        data[at : at + len(junk)] = junk
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    _check(bytes(data))


@fuzz(60)
@given(
    fmt=st.sampled_from(["WAV", "FLAC"]),
    rate=st.sampled_from(RATES),
    seconds=st.floats(0.05, 2.0),
)
def test_a_sound_at_any_rate_comes_back_as_long_at_8_khz(
    fmt: str, rate: int, seconds: float
) -> None:
    n = max(1, round(seconds * rate))
    samples = 0.3 * np.sin(2 * np.pi * 300 * np.arange(n) / rate)
    out = _check(_encoded(samples, rate, fmt))
    assert out is not None
    assert out.source_format == fmt.lower()
    assert abs(out.duration_ms - n * 1000 / rate) <= 2
