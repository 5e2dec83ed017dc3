"""The archive: a WAV working copy becomes FLAC (lossless) or Opus (small, lossy), through
libsndfile in the soundfile wheel.

Blocking and CPU-bound (the upkeep service runs it in its pool). The compressed file is
written next to the WAV under a temporary name and renamed when complete (encrypted when a
key is set: the compressed bytes are what is encrypted); the caller updates the index and
only then removes the WAV (``remove``), so a failure at any step leaves the WAV and its row
as they were. The WAV is read in blocks; the compressed file is built in memory (FLAC is
about half the WAV, Opus a tenth).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import soundfile as sf
from twisted.logger import Logger

from recorder import encryption, storage
from recorder.postprocess import RecordingError, write_atomically

log = Logger(namespace="ccbox.recorder.archive")
FORMATS = {"flac": ("FLAC", "PCM_16"), "opus": ("OGG", "OPUS")}
BLOCK_FRAMES = 64 * 1024
WRITE_PIECE = 1024 * 1024


class ArchiveError(RecordingError):
    """The WAV could not be archived (missing, unreadable, not a WAV); nothing changed."""


@dataclass(frozen=True)
class Archived:
    relative: str  # the archive file, relative to the recording root
    format: str
    size_bytes: int
    sha256: str
    encrypted: bool


def opus_available() -> bool:
    return "OPUS" in sf.available_subtypes("OGG")


def effective_format(wanted: str) -> str:
    """``wanted`` when this libsndfile can write it; Opus falls back to FLAC (logged)."""
    if wanted == "opus" and not opus_available():
        log.warn("this libsndfile has no Opus encoder: archiving recordings as FLAC instead")
        return "flac"
    if wanted not in FORMATS:
        raise ArchiveError(f"unknown archive format {wanted!r} (flac or opus)")
    return wanted


def archive_name(relative: str, fmt: str) -> str:
    return str(PurePosixPath(relative).with_suffix("." + fmt))


def _pieces(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), WRITE_PIECE):
        yield bytes(view[start : start + WRITE_PIECE])


def compress(root: Path, relative: str, encrypted: bool, fmt: str, key: bytes | None) -> Archived:
    """Write the archive copy of the WAV ``relative`` (stored ``encrypted`` or not) and
    return what the index needs; the WAV is left alone. Raises ``ArchiveError`` or
    ``DiskFull``; either way no archive file is left."""
    fmt = effective_format(fmt)
    src = storage.resolve(root, relative)
    if src is None:
        raise ArchiveError(f"{relative}: no such file under the recording root")
    container, subtype = FORMATS[fmt]
    out = io.BytesIO()
    try:
        with storage.open_plain(src, encrypted, key) as f, sf.SoundFile(f) as wav:
            if wav.format != "WAV":
                raise ArchiveError(f"{relative}: a {wav.format} file, not a WAV")
            with sf.SoundFile(
                out, "w", wav.samplerate, wav.channels, subtype, format=container
            ) as packed:
                for block in wav.blocks(BLOCK_FRAMES, dtype="int16"):
                    packed.write(block)
    except (encryption.EncryptionError, encryption.KeyFileError, sf.LibsndfileError) as exc:
        raise ArchiveError(f"{relative}: {exc}") from None
    except OSError as exc:
        raise ArchiveError(f"{relative}: {exc.strerror or exc}") from None
    new = archive_name(relative, fmt)
    written = write_atomically(root / new, _pieces(out.getvalue()), key)
    return Archived(new, fmt, written.size, written.digest.hexdigest(), key is not None)


def remove(root: Path, relative: str) -> bool:
    """Remove the stored file ``relative`` (the old WAV, a purged recording); False when it
    was not there. Only a regular file under the root is removed, never a link's target."""
    path = root / relative
    if storage.resolve(root, relative) is None or path.is_symlink():
        return False
    path.unlink(missing_ok=True)
    return True
