"""G.711 encode and decode of one leg: the Cython kernel against the stdlib's C codec
(``audioop``, the same codec and direction), a NumPy table lookup and the pure-Python
reference, on the same input in the same run.
Goal for ``g711 encode``: at least 1.0 G samples/s on one core and 10x ``audioop.lin2ulaw``.
Plain decode is one table lookup a byte: the entry's note says whether a kernel of its own
beats what is there without one (audioop, which Python 3.13 removes; NumPy)."""

from __future__ import annotations

import os
import warnings

import numpy as np

from drivers.audio import _g711_c, _g711_py
from tests.benchmarks.harness import Result, best_rate

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

SAMPLES = 8_000_000  # 1000 s of one 8 kHz leg
SMALL = 80_000  # the pure-Python reference is ~100x slower: time it on less


def decode_note(kernel: float, c_codec: float, table: float) -> str:
    """Whether plain decode is worth a kernel, from the rates of the run."""
    if kernel >= 1.2 * max(c_codec, table):
        return (
            f"worth its kernel: {kernel / c_codec:.2f}x audioop's C decoder, "
            f"{kernel / table:.2f}x a NumPy table lookup"
        )
    if kernel >= 1.2 * table:
        return (
            f"{kernel / c_codec:.2f}x audioop's C decoder but {kernel / table:.2f}x a NumPy "
            "table lookup: worth a kernel once audioop is gone (Python 3.13)"
        )
    return (
        f"not worth a kernel of its own: {kernel / table:.2f}x a NumPy table lookup, "
        f"{kernel / c_codec:.2f}x audioop's C decoder"
    )


def run() -> list[Result]:
    ulaw, alaw = os.urandom(SAMPLES), os.urandom(SAMPLES)
    # every 16-bit value equally likely: each lookup may hit any entry of the 64K table
    pcm = os.urandom(2 * SAMPLES)
    assert _g711_c.ulaw_encode(pcm[:20000]) == audioop.lin2ulaw(pcm[:20000], 2)
    assert _g711_c.alaw_decode(alaw[:20000]) == audioop.alaw2lin(alaw[:20000], 2)
    every_byte = bytes(range(256))
    ulaw_table = np.frombuffer(_g711_c.ulaw_decode(every_byte), dtype="<i2").copy()
    alaw_table = np.frombuffer(_g711_c.alaw_decode(every_byte), dtype="<i2").copy()
    assert ulaw_table[np.frombuffer(ulaw[:20000], np.uint8)].tobytes() == _g711_c.ulaw_decode(
        ulaw[:20000]
    )
    small, small_pcm = ulaw[:SMALL], pcm[: 2 * SMALL]
    gs = "Gsamples/s"

    def rate(fn: object, n: int = SAMPLES, repeat: int = 5) -> float:
        return best_rate(fn, n, repeat=repeat) / 1e9  # type: ignore[arg-type]

    encode = rate(lambda: _g711_c.ulaw_encode(pcm))
    encode_alaw = rate(lambda: _g711_c.alaw_encode(pcm))
    decode = rate(lambda: _g711_c.ulaw_decode(ulaw))
    decode_alaw = rate(lambda: _g711_c.alaw_decode(alaw))
    c_encode = rate(lambda: audioop.lin2ulaw(pcm, 2), repeat=3)
    c_encode_alaw = rate(lambda: audioop.lin2alaw(pcm, 2), repeat=3)
    c_decode = rate(lambda: audioop.ulaw2lin(ulaw, 2), repeat=3)
    c_decode_alaw = rate(lambda: audioop.alaw2lin(alaw, 2), repeat=3)
    np_decode = rate(lambda: np.take(ulaw_table, np.frombuffer(ulaw, np.uint8)).tobytes(), repeat=3)
    np_decode_alaw = rate(
        lambda: np.take(alaw_table, np.frombuffer(alaw, np.uint8)).tobytes(), repeat=3
    )
    py_encode = rate(lambda: _g711_py.ulaw_encode(small_pcm), SMALL, repeat=3)
    py_decode = rate(lambda: _g711_py.ulaw_decode(small), SMALL, repeat=3)
    return [
        Result("g711 encode", encode, gs, "audioop.lin2ulaw (C)", c_encode, "higher"),
        Result(
            "g711 encode alaw", encode_alaw, gs, "audioop.lin2alaw (C)", c_encode_alaw, "higher"
        ),
        Result(
            "g711 encode vs python",
            encode,
            gs,
            "drivers.audio._g711_py.ulaw_encode",
            py_encode,
            "higher",
        ),
        Result(
            "g711 decode",
            decode,
            gs,
            "audioop.ulaw2lin (C)",
            c_decode,
            "higher",
            decode_note(decode, c_decode, np_decode),
        ),
        Result("g711 decode vs numpy", decode, gs, "NumPy ulaw table lookup", np_decode, "higher"),
        Result(
            "g711 decode alaw",
            decode_alaw,
            gs,
            "audioop.alaw2lin (C)",
            c_decode_alaw,
            "higher",
            decode_note(decode_alaw, c_decode_alaw, np_decode_alaw),
        ),
        Result(
            "g711 decode alaw vs numpy",
            decode_alaw,
            gs,
            "NumPy alaw table lookup",
            np_decode_alaw,
            "higher",
        ),
        Result(
            "g711 decode vs python",
            decode,
            gs,
            "drivers.audio._g711_py.ulaw_decode",
            py_decode,
            "higher",
        ),
    ]
