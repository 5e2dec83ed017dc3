"""The recorder's DSP on both implementations: stereo merge with legs of different lengths,
voice activity, talk-over and silence on synthetic calls with known answers, waveform
peaks, and the Cython kernel held equal to the NumPy reference on random input."""

from __future__ import annotations

import array
import importlib
import math
import warnings
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.audio import g711
from recorder import _dsp_c, _dsp_py

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

IMPLEMENTATIONS = ["recorder._dsp_py", "recorder._dsp_c"]
RATE = 8000


@pytest.fixture(params=IMPLEMENTATIONS, ids=["python", "cython"])
def dsp(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def tone(seconds: float, freq: float = 440.0, amp: int = 8000) -> bytes:
    n = int(seconds * RATE)
    return array.array(
        "h", (int(amp * math.sin(2 * math.pi * freq * i / RATE)) for i in range(n))
    ).tobytes()


def silence(seconds: float) -> bytes:
    return bytes(2 * int(seconds * RATE))


def test_decode_stereo_puts_the_caller_left_and_the_agent_right(dsp: ModuleType) -> None:
    rx, tx = g711.ulaw_encode(tone(0.1, 300)), g711.ulaw_encode(tone(0.1, 1000))
    stereo = dsp.decode_stereo(rx, tx, "ulaw")
    left, right = audioop.tomono(stereo, 2, 1, 0), audioop.tomono(stereo, 2, 0, 1)
    assert left == g711.ulaw_decode(rx)
    assert right == g711.ulaw_decode(tx)
    # the same with audioop's own path (decode both, place each in its channel, add)
    both = audioop.add(
        audioop.tostereo(audioop.ulaw2lin(rx, 2), 2, 1, 0),
        audioop.tostereo(audioop.ulaw2lin(tx, 2), 2, 0, 1),
        2,
    )
    assert stereo == both


def test_a_shorter_leg_is_padded_with_silence_at_its_end(dsp: ModuleType) -> None:
    rx = g711.alaw_encode(tone(0.5))
    tx = g711.alaw_encode(tone(0.3))  # the agent's leg ended 0.2 s early (drift, a late stop)
    stereo = dsp.decode_stereo(rx, tx, "alaw")
    assert len(stereo) == 4 * len(rx)
    right = array.array("h", audioop.tomono(stereo, 2, 0, 1))
    assert list(right[len(tx) :]) == [0] * (len(rx) - len(tx))
    assert dsp.decode_stereo(b"", tx, "alaw")[:4] == b"\0\0" + g711.alaw_decode(tx[:1])
    assert dsp.decode_stereo(b"", b"", "ulaw") == b""


def test_interleave_pcm_legs(dsp: ModuleType) -> None:
    a, b = tone(0.05), tone(0.02, 900)
    out = dsp.interleave(a, b)
    assert audioop.tomono(out, 2, 1, 0) == a
    assert audioop.tomono(out, 2, 0, 1)[: len(b)] == b
    with pytest.raises(ValueError, match="even number"):
        dsp.interleave(b"\0", b"")


def test_bad_arguments(dsp: ModuleType) -> None:
    with pytest.raises(ValueError, match="ulaw or alaw"):
        dsp.decode_stereo(b"", b"", "g722")
    with pytest.raises(ValueError):
        dsp.voice_activity(b"\0\0\0")
    with pytest.raises(ValueError):
        dsp.peaks(b"\0\0", 2, 4)
    with pytest.raises(ValueError):
        dsp.peaks(b"\0\0", 1, 0)


def test_voice_activity_finds_speech_at_known_times(dsp: ModuleType) -> None:
    # 1 s silence, 1 s speech, 1 s silence: 50 frames each of 20 ms
    pcm = silence(1) + tone(1) + silence(1)
    vad = dsp.voice_activity(pcm, 160, 500, 0)
    assert len(vad) == 150
    assert vad == bytes(50) + b"\x01" * 50 + bytes(50)
    held = dsp.voice_activity(pcm, 160, 500, 10)  # the hangover bridges short pauses
    assert held == bytes(50) + b"\x01" * 60 + bytes(40)
    quiet = dsp.voice_activity(tone(1, amp=300), 160, 500, 0)  # below the threshold
    assert quiet == bytes(50)


def test_talk_over_and_silence_on_a_synthetic_call(dsp: ModuleType) -> None:
    # caller speaks 0-2 s, agent 1.5-3 s, then both silent to 4 s
    caller = tone(2) + silence(2)
    agent = silence(1.5) + tone(1.5, 700) + silence(1)
    a = dsp.voice_activity(caller, 160, 500, 0)
    b = dsp.voice_activity(agent, 160, 500, 0)
    both, only_caller, only_agent, none = dsp.talk_stats(a, b)
    assert (both, only_caller, only_agent, none) == (25, 75, 50, 50)  # frames of 20 ms
    assert dsp.talk_stats(b"\x01", b"") == (0, 1, 0, 0)


def test_peaks_for_the_waveform(dsp: ModuleType) -> None:
    pcm = silence(0.5) + tone(0.5, amp=12000) + silence(0.5) + tone(0.5, amp=3000)
    got = dsp.peaks(pcm, 1, 4)
    assert got[0] == 0 and got[2] == 0
    assert 11900 <= got[1] <= 12000 and 2900 <= got[3] <= 3000
    stereo = dsp.interleave(silence(1), tone(1, amp=20000))
    assert min(dsp.peaks(stereo, 2, 10)) >= 19000  # the louder channel counts
    assert dsp.peaks(b"", 1, 3) == [0, 0, 0]
    assert dsp.peaks(array.array("h", [-32768]).tobytes(), 1, 1) == [32768]


@settings(max_examples=60, deadline=None)
@given(
    rx=st.binary(max_size=3000),
    tx=st.binary(max_size=3000),
    law=st.sampled_from(["ulaw", "alaw"]),
    frame=st.integers(1, 400),
    threshold=st.integers(0, 40000),
    hangover=st.integers(0, 20),
    buckets=st.integers(1, 50),
)
def test_cython_equals_the_reference(
    rx: bytes, tx: bytes, law: str, frame: int, threshold: int, hangover: int, buckets: int
) -> None:
    assert _dsp_c.decode_stereo(rx, tx, law) == _dsp_py.decode_stereo(rx, tx, law)
    left, right = rx[: len(rx) // 2 * 2], tx[: len(tx) // 2 * 2]
    assert _dsp_c.interleave(left, right) == _dsp_py.interleave(left, right)
    for pcm in (left, right):
        c = _dsp_c.voice_activity(pcm, frame, threshold, hangover)
        assert c == _dsp_py.voice_activity(pcm, frame, threshold, hangover)
        assert _dsp_c.peaks(pcm, 1, buckets) == _dsp_py.peaks(pcm, 1, buckets)
    stereo = _dsp_py.interleave(left, right)
    assert _dsp_c.peaks(stereo, 2, buckets) == _dsp_py.peaks(stereo, 2, buckets)
    a, b = _dsp_py.voice_activity(left, frame, threshold), _dsp_py.voice_activity(right, frame)
    assert _dsp_c.talk_stats(a, b) == _dsp_py.talk_stats(a, b)
