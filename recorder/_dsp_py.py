"""The recorder's DSP in NumPy: the reference the Cython kernel (``_dsp_c.pyx``) is held to.

Everything works on G.711 bytes or 16-bit little-endian PCM and integer arithmetic, so the
two implementations agree to the bit:

- ``decode_stereo``: the two legs of a call (caller = what the channel received, left;
  agent = what it sent, right) decoded and interleaved into one stereo stream. Both legs
  start together and MixMonitor's ``S`` option keeps them in step (silence where one
  direction had no frames); one may still end a few frames early (frames in flight at the
  hangup): the shorter leg is padded with silence at its end, so both channels keep time.
- ``voice_activity``: one byte per 20 ms frame, 1 when the mean absolute amplitude is above
  the threshold, held for ``hangover`` frames after speech (words have gaps).
- ``talk_stats``: frames where both speak (talk-over), only one, or neither (silence).
- ``peaks``: the largest absolute sample per bucket, for the player's waveform.
"""

from __future__ import annotations

import numpy as np

from drivers.audio._g711_py import ALAW_DECODE, ULAW_DECODE

FRAME = 160  # 20 ms at 8 kHz
THRESHOLD = 500
HANGOVER = 10
_TABLES = {
    "ulaw": np.array(ULAW_DECODE, dtype="<i2"),
    "alaw": np.array(ALAW_DECODE, dtype="<i2"),
}


def _table(law: str) -> np.ndarray:
    try:
        return _TABLES[law]
    except KeyError:
        raise ValueError("law must be ulaw or alaw") from None


def decode_stereo(rx: bytes, tx: bytes, law: str = "ulaw") -> bytes:
    table = _table(law)
    n = max(len(rx), len(tx))
    out = np.zeros((n, 2), dtype="<i2")
    out[: len(rx), 0] = table[np.frombuffer(rx, dtype=np.uint8)]
    out[: len(tx), 1] = table[np.frombuffer(tx, dtype=np.uint8)]
    return out.tobytes()


def interleave(left: bytes, right: bytes) -> bytes:
    if len(left) % 2 or len(right) % 2:
        raise ValueError("16-bit PCM has an even number of bytes")
    a, b = np.frombuffer(left, dtype="<i2"), np.frombuffer(right, dtype="<i2")
    out = np.zeros((max(len(a), len(b)), 2), dtype="<i2")
    out[: len(a), 0] = a
    out[: len(b), 1] = b
    return out.tobytes()


def voice_activity(
    pcm: bytes, frame: int = FRAME, threshold: int = THRESHOLD, hangover: int = HANGOVER
) -> bytes:
    if frame <= 0 or len(pcm) % 2:
        raise ValueError("frame must be positive and PCM an even number of bytes")
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int64))
    n = len(samples)
    frames = (n + frame - 1) // frame
    out = np.zeros(frames, dtype=np.uint8)
    hold = 0
    for f in range(frames):
        chunk = samples[f * frame : (f + 1) * frame]
        if int(chunk.sum()) // len(chunk) > threshold:
            out[f], hold = 1, hangover
        elif hold > 0:
            out[f], hold = 1, hold - 1
    return out.tobytes()


def talk_stats(left: bytes, right: bytes) -> tuple[int, int, int, int]:
    """Frames where (both speak, only left, only right, neither)."""
    n = max(len(left), len(right))
    a = np.zeros(n, dtype=bool)
    b = np.zeros(n, dtype=bool)
    a[: len(left)] = np.frombuffer(left, dtype=np.uint8) != 0
    b[: len(right)] = np.frombuffer(right, dtype=np.uint8) != 0
    return (
        int(np.sum(a & b)),
        int(np.sum(a & ~b)),
        int(np.sum(~a & b)),
        int(np.sum(~a & ~b)),
    )


def peaks(pcm: bytes, channels: int, buckets: int) -> list[int]:
    if channels not in (1, 2) or buckets <= 0 or len(pcm) % (2 * channels):
        raise ValueError("1 or 2 channels of whole 16-bit frames, and at least one bucket")
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32)).reshape(-1, channels)
    per_frame = samples.max(axis=1) if len(samples) else samples.reshape(0)
    n = len(per_frame)
    out = []
    for k in range(buckets):
        lo, hi = k * n // buckets, (k + 1) * n // buckets
        out.append(int(per_frame[lo:hi].max()) if hi > lo else 0)
    return out
