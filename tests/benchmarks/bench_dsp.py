"""The recorder's DSP: two G.711 legs decoded and interleaved into one stereo stream (the
first step of every recording's post-processing), by the Cython kernel, its NumPy
reference, audioop's tostereo path and ``sox -M``, on the same input in the same run.
Goal: at least 1.0 G frames/s on one core and 3x the NumPy reference."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

from recorder import _dsp_c, _dsp_py
from tests.benchmarks.harness import Result, best_rate

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

FRAMES = 8_000_000  # 1000 s of a call's two 8 kHz legs


def _audioop(rx: bytes, tx: bytes) -> bytes:
    return audioop.add(
        audioop.tostereo(audioop.ulaw2lin(rx, 2), 2, 1, 0),
        audioop.tostereo(audioop.ulaw2lin(tx, 2), 2, 0, 1),
        2,
    )


def _sox_rate(rx: bytes, tx: bytes) -> float | None:
    sox = shutil.which("sox")
    if sox is None:
        return None
    tmp = Path(tempfile.mkdtemp(prefix="ccbox-bench-sox-"))
    try:
        (tmp / "rx.ul").write_bytes(rx)
        (tmp / "tx.ul").write_bytes(tx)
        leg = ["-t", "ul", "-r", "8000", "-c", "1"]
        cmd = [sox, "-M", *leg, str(tmp / "rx.ul"), *leg, str(tmp / "tx.ul")]
        cmd += ["-t", "raw", "-e", "signed", "-b", "16", str(tmp / "out.raw")]
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run(cmd, check=True)
            best = max(best, FRAMES / (time.perf_counter() - start))
        return best
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run() -> list[Result]:
    rx, tx = os.urandom(FRAMES), os.urandom(FRAMES)
    assert _dsp_c.decode_stereo(rx[:1000], tx[:1000]) == _audioop(rx[:1000], tx[:1000])
    gfs = "Gframes/s"
    cython = best_rate(lambda: _dsp_c.decode_stereo(rx, tx), FRAMES) / 1e9
    numpy = best_rate(lambda: _dsp_py.decode_stereo(rx, tx), FRAMES, repeat=3) / 1e9
    stdlib = best_rate(lambda: _audioop(rx, tx), FRAMES, repeat=3) / 1e9
    results = [
        Result("g711 decode+interleave", cython, gfs, "NumPy reference", numpy, better="higher"),
        Result(
            "g711 decode+interleave vs audioop",
            cython,
            gfs,
            "audioop tostereo path",
            stdlib,
            better="higher",
        ),
    ]
    sox = _sox_rate(rx, tx)
    if sox is not None:
        results.append(
            Result(
                "g711 decode+interleave vs sox", cython, gfs, "sox -M", sox / 1e9, better="higher"
            )
        )
    return results
