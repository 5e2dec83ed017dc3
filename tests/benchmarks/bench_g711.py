"""G.711 decode/encode: the Cython kernel against the stdlib's C codec and the Python reference."""

from __future__ import annotations

import os
import warnings

from recorder import _g711_c, _g711_py
from tests.benchmarks.harness import Result, best_rate

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

FRAMES = 8_000_000  # 1000 s of one 8 kHz leg
SMALL = 80_000  # the pure-Python reference is ~100x slower: time it on less


def run() -> list[Result]:
    ulaw = os.urandom(FRAMES)
    pcm = _g711_c.ulaw_decode(ulaw)
    small = ulaw[:SMALL]
    mfs = "Mframes/s"
    c_decode = best_rate(lambda: _g711_c.ulaw_decode(ulaw), FRAMES) / 1e6
    c_encode = best_rate(lambda: _g711_c.ulaw_encode(pcm), FRAMES) / 1e6
    stdlib_decode = best_rate(lambda: audioop.ulaw2lin(ulaw, 2), FRAMES) / 1e6
    stdlib_encode = best_rate(lambda: audioop.lin2ulaw(pcm, 2), FRAMES) / 1e6
    py_decode = best_rate(lambda: _g711_py.ulaw_decode(small), SMALL, repeat=3) / 1e6
    return [
        Result("g711_ulaw_decode_cython", c_decode, mfs, "audioop.ulaw2lin (C)", stdlib_decode),
        Result("g711_ulaw_encode_cython", c_encode, mfs, "audioop.lin2ulaw (C)", stdlib_encode),
        Result(
            "g711_ulaw_decode_cython_vs_python",
            c_decode,
            mfs,
            "recorder._g711_py.ulaw_decode",
            py_decode,
        ),
    ]
