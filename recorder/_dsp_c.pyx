# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The recorder's DSP in Cython: the same results as ``_dsp_py`` (the NumPy reference, whose
docstring says what each function does), bit for bit, much faster. The loops run without
the GIL, so post-processing in the worker pool uses every core.

decode_stereo writes each stereo frame as one 32-bit store of two table lookups: the bound
is memory bandwidth, not arithmetic.
"""

import sys

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport int16_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memset

from drivers.audio._g711_py import ALAW_DECODE, ULAW_DECODE

DEF FRAME = 160
DEF THRESHOLD = 500
DEF HANGOVER = 10

cdef uint32_t ULAW_L[256]
cdef uint32_t ULAW_R[256]
cdef uint32_t ALAW_L[256]
cdef uint32_t ALAW_R[256]
cdef bint BIG = sys.byteorder == "big"


cdef inline uint16_t _le(int v):
    cdef uint16_t u = <uint16_t> (v & 0xFFFF)
    if BIG:
        return <uint16_t> ((u >> 8) | (u << 8))
    return u


def _build():
    cdef int i
    for i in range(256):
        # A stereo frame in memory: left sample's 2 bytes, then right's (both little-endian).
        if BIG:
            ULAW_L[i] = (<uint32_t> _le(ULAW_DECODE[i])) << 16
            ULAW_R[i] = <uint32_t> _le(ULAW_DECODE[i])
            ALAW_L[i] = (<uint32_t> _le(ALAW_DECODE[i])) << 16
            ALAW_R[i] = <uint32_t> _le(ALAW_DECODE[i])
        else:
            ULAW_L[i] = <uint32_t> _le(ULAW_DECODE[i])
            ULAW_R[i] = (<uint32_t> _le(ULAW_DECODE[i])) << 16
            ALAW_L[i] = <uint32_t> _le(ALAW_DECODE[i])
            ALAW_R[i] = (<uint32_t> _le(ALAW_DECODE[i])) << 16


_build()


cdef const uint8_t[::1] _view(data):
    if len(data) == 0:
        return b"\0"[:0]
    return memoryview(data).cast("B")


def decode_stereo(rx, tx, str law="ulaw"):
    cdef const uint32_t* L
    cdef const uint32_t* R
    if law == "ulaw":
        L, R = ULAW_L, ULAW_R
    elif law == "alaw":
        L, R = ALAW_L, ALAW_R
    else:
        raise ValueError("law must be ulaw or alaw")
    cdef const uint8_t[::1] a = _view(rx)
    cdef const uint8_t[::1] b = _view(tx)
    cdef Py_ssize_t na = a.shape[0], nb = b.shape[0]
    cdef Py_ssize_t n = na if na > nb else nb, both = na if na < nb else nb, i
    out = PyBytes_FromStringAndSize(NULL, 4 * n)
    cdef uint32_t* dst = <uint32_t*> PyBytes_AS_STRING(out)
    cdef const uint8_t* pa = &a[0] if na else NULL
    cdef const uint8_t* pb = &b[0] if nb else NULL
    cdef Py_ssize_t quad = both - both % 4
    with nogil:
        i = 0
        while i < quad:  # four frames a turn: independent loads the CPU can overlap
            dst[i] = L[pa[i]] | R[pb[i]]
            dst[i + 1] = L[pa[i + 1]] | R[pb[i + 1]]
            dst[i + 2] = L[pa[i + 2]] | R[pb[i + 2]]
            dst[i + 3] = L[pa[i + 3]] | R[pb[i + 3]]
            i += 4
        for i in range(quad, both):
            dst[i] = L[pa[i]] | R[pb[i]]
        # the shorter leg is padded with digital silence (sample 0)
        for i in range(both, na):
            dst[i] = L[a[i]]
        for i in range(both, nb):
            dst[i] = R[b[i]]
    return out


cdef inline int _get(const uint8_t* p, Py_ssize_t i) nogil:
    # a little-endian 16-bit sample at index i, whatever the host order
    return <int16_t> (<uint16_t> p[2 * i] | (<uint16_t> p[2 * i + 1] << 8))


def interleave(left, right):
    cdef const uint8_t[::1] a = _view(left)
    cdef const uint8_t[::1] b = _view(right)
    if a.shape[0] % 2 or b.shape[0] % 2:
        raise ValueError("16-bit PCM has an even number of bytes")
    cdef Py_ssize_t na = a.shape[0] // 2, nb = b.shape[0] // 2, n = max(na, nb), i
    out = PyBytes_FromStringAndSize(NULL, 4 * n)
    cdef uint8_t* dst = <uint8_t*> PyBytes_AS_STRING(out)
    if n == 0:
        return out
    memset(dst, 0, 4 * n)
    with nogil:
        for i in range(na):
            dst[4 * i] = a[2 * i]
            dst[4 * i + 1] = a[2 * i + 1]
        for i in range(nb):
            dst[4 * i + 2] = b[2 * i]
            dst[4 * i + 3] = b[2 * i + 1]
    return out


def voice_activity(pcm, int frame=FRAME, int threshold=THRESHOLD, int hangover=HANGOVER):
    cdef const uint8_t[::1] raw = _view(pcm)
    if frame <= 0 or raw.shape[0] % 2:
        raise ValueError("frame must be positive and PCM an even number of bytes")
    cdef Py_ssize_t n = raw.shape[0] // 2
    cdef Py_ssize_t frames = (n + frame - 1) // frame, f, i, lo, hi
    out = PyBytes_FromStringAndSize(NULL, frames)
    cdef uint8_t* dst = <uint8_t*> PyBytes_AS_STRING(out)
    cdef const uint8_t* p = &raw[0] if n else NULL
    cdef int64_t total
    cdef int s, hold = 0
    with nogil:
        for f in range(frames):
            lo = f * frame
            hi = lo + frame if lo + frame < n else n
            total = 0
            for i in range(lo, hi):
                s = _get(p, i)
                total += -s if s < 0 else s
            if total // (hi - lo) > threshold:
                dst[f] = 1
                hold = hangover
            elif hold > 0:
                dst[f] = 1
                hold -= 1
            else:
                dst[f] = 0
    return out


def talk_stats(left, right):
    cdef const uint8_t[::1] a = _view(left)
    cdef const uint8_t[::1] b = _view(right)
    cdef Py_ssize_t na = a.shape[0], nb = b.shape[0], n = max(na, nb), i
    cdef Py_ssize_t both = 0, only_l = 0, only_r = 0, none = 0
    cdef bint x, y
    with nogil:
        for i in range(n):
            x = i < na and a[i] != 0
            y = i < nb and b[i] != 0
            if x and y:
                both += 1
            elif x:
                only_l += 1
            elif y:
                only_r += 1
            else:
                none += 1
    return both, only_l, only_r, none


def peaks(pcm, int channels, int buckets):
    cdef const uint8_t[::1] raw = _view(pcm)
    if channels not in (1, 2) or buckets <= 0 or raw.shape[0] % (2 * channels):
        raise ValueError("1 or 2 channels of whole 16-bit frames, and at least one bucket")
    cdef Py_ssize_t n = raw.shape[0] // (2 * channels), k, i, lo, hi
    cdef const uint8_t* p = &raw[0] if n else NULL
    cdef int s, m
    result = []
    for k in range(buckets):
        lo = k * n // buckets
        hi = (k + 1) * n // buckets
        m = 0
        with nogil:
            for i in range(lo * channels, hi * channels):
                s = _get(p, i)
                if s < 0:
                    s = -s
                if s > m:
                    m = s
        result.append(m)
    return result
