"""Post-processing one recording: the two G.711 legs MixMonitor wrote become one stereo WAV
(caller left, agent right) with its metrics and waveform peaks.

Blocking and CPU-bound: the recorder runs it in its worker pool, never on the reactor. The
WAV is written to a temporary name in the same folder and renamed when complete, with the
sha256 of what was written (the stored bytes: encrypted ones when a key is given); a failure
leaves no partial file (the legs are kept for a retry). A full disk (ENOSPC, EDQUOT) raises
``DiskFull``, on which the recorder stops new recordings and raises its alarm.
"""

from __future__ import annotations

import errno
import hashlib
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from drivers.audio import g711
from recorder import dsp, encryption

RATE = 8000
PEAKS = 200  # waveform points for the player
MAX_LEG_BYTES = 8000 * 3600 * 8  # eight hours of one leg


class RecordingError(RuntimeError):
    """The legs cannot be merged (missing, too big, an unknown format)."""


class NothingRecorded(RecordingError):
    """Neither leg carried any sound: the call was never bridged with an agent (MixMonitor's
    b option writes nothing then). Not a fault: there is no recording to make."""


class DiskFull(RecordingError):
    """No room left for the stereo file (ENOSPC, EDQUOT): nothing partial is left and the
    legs are kept."""


FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


class HashingSink:
    """Writes to ``f`` and hashes what it wrote (the stored bytes)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.f.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


def write_atomically(out: Path, chunks: Iterable[bytes], key: bytes | None = None) -> HashingSink:
    """``chunks`` into ``out`` by way of a temporary name in the same folder, fsync'd and
    renamed when complete (encrypted when ``key`` is given); on any failure nothing is left,
    and a full disk raises ``DiskFull``."""
    tmp: str | None = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".tmp-", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            sink = HashingSink(f)
            writer = encryption.EncryptingWriter(sink, key) if key is not None else None
            for chunk in chunks:
                if writer is not None:
                    writer.write(chunk)
                else:
                    sink.write(chunk)
            if writer is not None:
                writer.finish()
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
        tmp = None
    except OSError as exc:
        if is_disk_full(exc):
            raise DiskFull(
                f"{out.name}: the recording disk is full ({exc.strerror}); "
                "the legs are kept for a retry"
            ) from None
        raise
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return sink


@dataclass(frozen=True)
class Processed:
    path: Path
    duration_ms: int
    size_bytes: int
    sha256: str
    talk_over_ratio: float  # of the call's frames, both speaking
    silence_ratio: float  # neither speaking
    caller_talk_ratio: float
    agent_talk_ratio: float
    peaks: list[int]
    legs_mismatch_ms: int  # how much shorter one leg was (frames in flight at the end)
    encrypted: bool = False  # stored encrypted at rest (recorder/encryption.py)


def _law(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".ulaw", ".ul", ".mulaw"):
        return "ulaw"
    if suffix in (".alaw", ".al"):
        return "alaw"
    raise RecordingError(f"{path.name}: not a raw G.711 leg (.ulaw or .alaw)")


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_LEG_BYTES:
            raise RecordingError(f"{path.name}: {size} bytes, more than eight hours")
        return path.read_bytes()
    except FileNotFoundError:
        return b""  # a leg that never carried sound (Asterisk writes nothing): silence
    except OSError as exc:
        raise RecordingError(f"{path.name}: {exc.strerror}") from None


def wav_header(frames: int, channels: int = 2, rate: int = RATE) -> bytes:
    data = frames * channels * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * channels * 2, channels * 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def merge(rx_path: Path, tx_path: Path, out: Path, key: bytes | None = None) -> Processed:
    """``rx`` is what the caller's channel received from the caller (left), ``tx`` what it
    sent to the caller, the agent (right). With ``key`` the WAV is stored encrypted."""
    law = _law(rx_path)
    if _law(tx_path) != law:
        raise RecordingError("the two legs are in different G.711 laws")
    rx, tx = _read(rx_path), _read(tx_path)
    if not rx and not tx:
        raise NothingRecorded(f"{rx_path.name}: neither leg has any sound")
    stereo = dsp.decode_stereo(rx, tx, law)
    frames = max(len(rx), len(tx))
    decode = g711.ulaw_decode if law == "ulaw" else g711.alaw_decode
    left, right = dsp.voice_activity(decode(rx)), dsp.voice_activity(decode(tx))
    both, only_l, only_r, none = dsp.talk_stats(left, right)
    total = max(1, both + only_l + only_r + none)
    written = write_atomically(out, (wav_header(frames), stereo), key)
    return Processed(
        path=out,
        duration_ms=frames * 1000 // RATE,
        size_bytes=written.size,
        sha256=written.digest.hexdigest(),
        talk_over_ratio=round(both / total, 4),
        silence_ratio=round(none / total, 4),
        caller_talk_ratio=round((both + only_l) / total, 4),
        agent_talk_ratio=round((both + only_r) / total, 4),
        peaks=dsp.peaks(stereo, 2, PEAKS),
        legs_mismatch_ms=abs(len(rx) - len(tx)) * 1000 // RATE,
        encrypted=key is not None,
    )
