# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""G.711 mu-law and A-law <-> 16-bit linear PCM: the Cython kernel.

Same tables and rounding as ``_g711_py`` (which tests hold it equal to). Output is written
in place into a new bytes object with 16-bit stores; on a big-endian host the tables are
stored byte-swapped so the output is little-endian all the same. The loops run without the
GIL so the recorder's worker pool can use every core.
"""

import sys

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, uint8_t, uint16_t

from drivers.audio._g711_py import ALAW_DECODE, ULAW_DECODE, _linear_to_alaw, _linear_to_ulaw

cdef uint16_t ULAW[256]
cdef uint16_t ALAW[256]
cdef uint8_t ULAW_ENC[65536]
cdef uint8_t ALAW_ENC[65536]


cdef inline uint16_t _swap(uint16_t v):
    return <uint16_t> ((v >> 8) | (v << 8))


def _build_tables():
    cdef bint big = sys.byteorder == "big"
    cdef int i
    cdef uint16_t raw
    for i in range(256):
        ULAW[i] = <uint16_t> (ULAW_DECODE[i] & 0xFFFF)
        ALAW[i] = <uint16_t> (ALAW_DECODE[i] & 0xFFFF)
        if big:
            ULAW[i] = _swap(ULAW[i])
            ALAW[i] = _swap(ALAW[i])
    # Encoding tables are indexed by the sample exactly as it sits in memory.
    for i in range(65536):
        raw = _swap(<uint16_t> i) if big else <uint16_t> i
        sample = i - 65536 if i >= 32768 else i
        ULAW_ENC[raw] = _linear_to_ulaw(sample)
        ALAW_ENC[raw] = _linear_to_alaw(sample)


_build_tables()


cdef bytes _decode(const uint8_t[::1] src, const uint16_t* table):
    cdef Py_ssize_t n = src.shape[0], i
    out = PyBytes_FromStringAndSize(NULL, 2 * n)
    cdef uint16_t* dst = <uint16_t*> PyBytes_AS_STRING(out)
    if n:
        with nogil:
            for i in range(n):
                dst[i] = table[src[i]]
    return out


cdef bytes _encode(const uint8_t[::1] src, const uint8_t* table):
    cdef Py_ssize_t n = src.shape[0], i
    if n % 2:
        raise ValueError("16-bit PCM needs an even number of bytes")
    out = PyBytes_FromStringAndSize(NULL, n // 2)
    cdef uint8_t* dst = <uint8_t*> PyBytes_AS_STRING(out)
    cdef const uint16_t* samples
    if n:
        samples = <const uint16_t*> &src[0]
        with nogil:
            for i in range(n // 2):
                dst[i] = table[samples[i]]
    return out


def _bytes_view(data):
    view = memoryview(data)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


def ulaw_decode(data):
    """mu-law bytes -> little-endian 16-bit PCM (twice as long)."""
    return _decode(_bytes_view(data), ULAW)


def alaw_decode(data):
    """A-law bytes -> little-endian 16-bit PCM (twice as long)."""
    return _decode(_bytes_view(data), ALAW)


def ulaw_encode(pcm):
    """Little-endian 16-bit PCM -> mu-law bytes."""
    return _encode(_bytes_view(pcm), ULAW_ENC)


def alaw_encode(pcm):
    """Little-endian 16-bit PCM -> A-law bytes."""
    return _encode(_bytes_view(pcm), ALAW_ENC)
