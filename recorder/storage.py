"""Where recordings live on disk and how they are read back: the one place that turns an
index row's relative path into a file, and opens it for playback.

``resolve`` is the download guard: a path from the index (never from a request) becomes a
file only when its real path, links resolved, is a regular file under the recording root.
``open_stored`` returns a reader with the size and content type the player needs and
random access for HTTP Range (plain files today; archived and encrypted ones: see below).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CONTENT_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "opus": "audio/ogg"}


def resolve(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names under ``root``, or None: absolute, ``..``, NUL, a link
    out of the root, a folder or a device are all None."""
    if not relative or "\x00" in relative or relative.startswith(("/", "\\")):
        return None
    if any(part in ("", ".", "..") for part in relative.replace("\\", "/").split("/")):
        return None
    try:
        real_root = root.resolve(strict=True)
        real = (real_root / relative).resolve(strict=True)
        st = real.stat()
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(real_root) or not stat.S_ISREG(st.st_mode):
        return None
    return real


@dataclass
class StoredAudio:
    """An open recording: ``size`` bytes of ``content_type``, read at any offset."""

    size: int
    content_type: str
    _file: BinaryIO

    def read(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(max(0, min(length, self.size - offset)))

    def close(self) -> None:
        self._file.close()


def open_stored(
    path: Path, fmt: str, encrypted: bool = False, key: bytes | None = None
) -> StoredAudio:
    """Open a resolved recording for playback (blocking: call it in a thread)."""
    if encrypted:
        raise NotImplementedError("encrypted recordings: recorder/storage.py")
    f = path.open("rb")
    return StoredAudio(
        os.fstat(f.fileno()).st_size, CONTENT_TYPES.get(fmt, "application/octet-stream"), f
    )
