# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""G.711 mu-law and A-law <-> 16-bit linear PCM: the Cython kernel.

Same tables and rounding as ``_g711_py`` (which tests hold it equal to). Decoding is a
table lookup; the loops run without the GIL so the recorder's worker pool can use every core.
"""

from libc.stdint cimport int16_t, uint8_t

from recorder._g711_py import ALAW_DECODE, ULAW_DECODE
from recorder._g711_py import _linear_to_alaw, _linear_to_ulaw

cdef int16_t ULAW[256]
cdef int16_t ALAW[256]
cdef uint8_t ULAW_ENC[65536]
cdef uint8_t ALAW_ENC[65536]

cdef int _i
for _i in range(256):
    ULAW[_i] = ULAW_DECODE[_i]
    ALAW[_i] = ALAW_DECODE[_i]
# Encoding tables indexed by the 16-bit sample as unsigned (64 KiB each, built once).
for _i in range(65536):
    ULAW_ENC[_i] = _linear_to_ulaw(_i - 65536 if _i >= 32768 else _i)
    ALAW_ENC[_i] = _linear_to_alaw(_i - 65536 if _i >= 32768 else _i)


cdef bytes _decode(const uint8_t[::1] src, const int16_t* table):
    cdef Py_ssize_t n = src.shape[0], i
    out = bytearray(2 * n)
    cdef uint8_t[::1] dst_view = out
    cdef int16_t* dst = <int16_t*> &dst_view[0] if n else NULL
    cdef int16_t v
    with nogil:
        for i in range(n):
            v = table[src[i]]
            # little-endian output whatever the host order
            (<uint8_t*> dst)[2 * i] = <uint8_t> (v & 0xFF)
            (<uint8_t*> dst)[2 * i + 1] = <uint8_t> ((v >> 8) & 0xFF)
    return bytes(out)


cdef bytes _encode(const uint8_t[::1] src, const uint8_t* table):
    cdef Py_ssize_t n = src.shape[0], i
    if n % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    out = bytearray(n // 2)
    cdef uint8_t[::1] dst = out
    with nogil:
        for i in range(n // 2):
            dst[i] = table[src[2 * i] | (src[2 * i + 1] << 8)]
    return bytes(out)


def ulaw_decode(data):
    """mu-law bytes -> little-endian 16-bit PCM (twice as long)."""
    return _decode(memoryview(data).cast("B"), ULAW)


def alaw_decode(data):
    """A-law bytes -> little-endian 16-bit PCM (twice as long)."""
    return _decode(memoryview(data).cast("B"), ALAW)


def ulaw_encode(pcm):
    """Little-endian 16-bit PCM -> mu-law bytes."""
    return _encode(memoryview(pcm).cast("B"), ULAW_ENC)


def alaw_encode(pcm):
    """Little-endian 16-bit PCM -> A-law bytes."""
    return _encode(memoryview(pcm).cast("B"), ALAW_ENC)
