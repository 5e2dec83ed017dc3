"""Where recordings live on disk and how they are read back: the one place that turns an
index row's relative path into a file, and opens it for playback.

``resolve`` is the download guard: a path from the index (never from a request) becomes a
file only when its real path, links resolved, is a regular file under the recording root.
``open_stored`` returns a reader with the size and content type the player needs and
random access for HTTP Range, whether the file is plain or encrypted at rest
(recorder/encryption.py: then ``size`` is the plaintext's and a read decrypts only the
chunks it covers).
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from recorder import encryption

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


class DecryptedFile(io.RawIOBase):
    """A read-only, seekable file of an encrypted recording's plaintext (what soundfile
    and the player read)."""

    def __init__(self, reader: encryption.DecryptingReader) -> None:
        super().__init__()
        self._reader = reader
        self._pos = 0
        self.size = reader.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._reader.read(self._pos, len(buffer))
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._reader.close()
        super().close()


def open_plain(path: Path, encrypted: bool = False, key: bytes | None = None) -> BinaryIO:
    """``path`` opened for reading its plaintext (blocking). Raises
    ``encryption.EncryptionError`` for a file that is not ours, of another key, or damaged,
    and ``encryption.KeyFileError`` for an encrypted file with no key configured."""
    if not encrypted:
        return path.open("rb")
    if key is None:
        raise encryption.KeyFileError(
            f"{path.name} is encrypted and no [recording] encryption_key_file is configured"
        )
    f = path.open("rb")
    try:
        return cast(BinaryIO, DecryptedFile(encryption.DecryptingReader(f, key)))
    except BaseException:
        f.close()
        raise


def open_stored(
    path: Path, fmt: str, encrypted: bool = False, key: bytes | None = None
) -> StoredAudio:
    """Open a resolved recording for playback (blocking: call it in a thread)."""
    f = open_plain(path, encrypted, key)
    size = f.size if isinstance(f, DecryptedFile) else os.fstat(f.fileno()).st_size
    return StoredAudio(size, CONTENT_TYPES.get(fmt, "application/octet-stream"), f)
