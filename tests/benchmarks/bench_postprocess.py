"""The whole post-processing of a recording (recorder.postprocess.merge: read the two G.711
legs, decode and merge to stereo, voice activity per leg, talk-over and silence, waveform
peaks, sha256, the WAV written to a temporary name, fsynced and renamed) on synthetic
N-minute calls, as concurrent 8 kHz calls one core sustains: seconds of audio processed per
CPU second. The Cython kernels against the pure-Python/NumPy references, same calls, same
run."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from drivers.audio import _g711_c, _g711_py
from recorder import _dsp_c, _dsp_py, postprocess
from tests.benchmarks.harness import Result

RATE = 8000
MINUTES = 5  # a typical call-center call
CALLS = 4  # different calls, each processed in turn


def speech_leg(rng: np.random.Generator, seconds: int) -> bytes:
    """Talk spurts (a voiced tone with noise, 0.3-3 s) and pauses (0.2-2 s), as mu-law."""
    n = seconds * RATE
    pcm = np.zeros(n, dtype=np.int16)
    pos = int(rng.integers(0, 2 * RATE))
    while pos < n:
        talk = int(rng.uniform(0.3, 3.0) * RATE)
        t = np.arange(min(talk, n - pos)) / RATE
        voice = rng.uniform(2000, 12000) * np.sin(2 * np.pi * rng.uniform(100, 300) * t)
        noise = rng.normal(0, 600, len(t))
        pcm[pos : pos + len(t)] = np.clip(voice + noise, -32768, 32767).astype(np.int16)
        pos += talk + int(rng.uniform(0.2, 2.0) * RATE)
    pcm[pcm == 0] = 1
    return _g711_c.ulaw_encode(pcm.astype("<i2").tobytes())


@contextmanager
def kernels(dsp: object, g711: object) -> Iterator[None]:
    saved = postprocess.dsp, postprocess.g711
    postprocess.dsp, postprocess.g711 = dsp, g711  # type: ignore[assignment]
    try:
        yield
    finally:
        postprocess.dsp, postprocess.g711 = saved


def audio_s_per_cpu_s(calls: list[tuple[Path, Path]], out: Path, rounds: int) -> float:
    """The best round's seconds of call audio per CPU second of this process."""
    seconds = MINUTES * 60 * len(calls)
    best = 0.0
    for _ in range(rounds):
        start = time.process_time()
        for rx, tx in calls:
            done = postprocess.merge(rx, tx, out)
            assert done.duration_ms >= MINUTES * 60_000
        best = max(best, seconds / (time.process_time() - start))
    return best


def run() -> list[Result]:
    rng = np.random.default_rng(6)
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-post-"))
    try:
        calls = []
        for k in range(CALLS):
            rx, tx = tmp / f"{k}-rx.ulaw", tmp / f"{k}-tx.ulaw"
            # the agent's leg a few frames shorter: drift, as real legs have
            rx.write_bytes(speech_leg(rng, MINUTES * 60))
            tx.write_bytes(speech_leg(rng, MINUTES * 60)[: -int(rng.integers(1, 200))])
            calls.append((rx, tx))
        out = tmp / "out" / "call.wav"
        with kernels(_dsp_c, _g711_c):
            postprocess.merge(*calls[0], out)  # warm up
            fast = postprocess.merge(*calls[0], out)
            cython = audio_s_per_cpu_s(calls, out, rounds=5)
        with kernels(_dsp_py, _g711_py):
            slow = postprocess.merge(*calls[0], out)
            reference = audio_s_per_cpu_s(calls[:2], out, rounds=1)
        assert fast == slow, "the kernels and the references disagree"
        unit = "calls/core"  # concurrent real-time calls: audio s per CPU s
        return [
            Result(
                "recording postprocess",
                cython,
                unit,
                "pure-Python/NumPy reference",
                reference,
                better="higher",
            )
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
