"""G.711 mu-law and A-law <-> 16-bit linear PCM, in pure Python: the reference.

Follows ITU-T G.711 (and the Sun/CCITT reference code that audioop and Asterisk use):
decoding is exact table lookup; encoding rounds by truncation to the segment, as the
reference does. Samples are little-endian signed 16-bit.
"""

from __future__ import annotations

import array
import sys

_BIAS = 0x84
_ULAW_CLIP = 8159  # on the 14-bit magnitude
_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _segment(value: int, ends: tuple[int, ...]) -> int:
    for seg, end in enumerate(ends):
        if value <= end:
            return seg
    return len(ends)


def _ulaw_to_linear(u: int) -> int:
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + _BIAS
    t <<= (u & 0x70) >> 4
    return (_BIAS - t) if (u & 0x80) else (t - _BIAS)


def _alaw_to_linear(a: int) -> int:
    a ^= 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if (a & 0x80) else -t


def _linear_to_ulaw(sample: int) -> int:
    value = sample >> 2  # 14-bit
    if value < 0:
        value, mask = -value, 0x7F
    else:
        mask = 0xFF
    value = min(value, _ULAW_CLIP) + (_BIAS >> 2)
    seg = _segment(value, _ULAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((value >> (seg + 1)) & 0x0F)) ^ mask


def _linear_to_alaw(sample: int) -> int:
    value = sample >> 3  # 13-bit
    if value >= 0:
        mask = 0xD5
    else:
        value, mask = -value - 1, 0x55
    seg = _segment(value, _ALAW_SEG_END)
    if seg >= 8:
        return 0x7F ^ mask
    quant = (value >> 1) if seg < 2 else (value >> seg)
    return ((seg << 4) | (quant & 0x0F)) ^ mask


ULAW_DECODE = tuple(_ulaw_to_linear(i) for i in range(256))
ALAW_DECODE = tuple(_alaw_to_linear(i) for i in range(256))


def _pcm(samples: array.array[int]) -> bytes:
    if sys.byteorder != "little":
        samples.byteswap()
    return samples.tobytes()


def _samples(pcm: bytes) -> array.array[int]:
    if len(pcm) % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    samples = array.array("h", pcm)
    if sys.byteorder != "little":
        samples.byteswap()
    return samples


def ulaw_decode(data: bytes) -> bytes:
    """mu-law bytes -> little-endian 16-bit PCM (twice as long)."""
    table = ULAW_DECODE
    return _pcm(array.array("h", [table[b] for b in data]))


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes -> little-endian 16-bit PCM (twice as long)."""
    table = ALAW_DECODE
    return _pcm(array.array("h", [table[b] for b in data]))


def ulaw_encode(pcm: bytes) -> bytes:
    """Little-endian 16-bit PCM -> mu-law bytes."""
    return bytes(_linear_to_ulaw(s) for s in _samples(pcm))


def alaw_encode(pcm: bytes) -> bytes:
    """Little-endian 16-bit PCM -> A-law bytes."""
    return bytes(_linear_to_alaw(s) for s in _samples(pcm))
