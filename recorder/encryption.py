"""Recordings encrypted at rest: AES-256-GCM in fixed-size chunks, so a player's HTTP Range
decrypts only the chunks it needs.

A file is a header and then the chunks::

    header  = MAGIC (4) | VERSION (1) | key id (8: sha256(key)[:8]) | chunk size (4) |
              base nonce (12, random per file)
    chunk i = AES-GCM(key, nonce_i, plaintext_i, aad_i): ciphertext (len of plaintext) + tag (16)
    nonce_i = base nonce XOR i (as a 96-bit big-endian number)
    aad_i   = header | i (8, big-endian) | final flag (1)

Every chunk holds ``CHUNK`` bytes of plaintext except the last (0 to ``CHUNK``), the only one
whose final flag is 1. Reordered chunks fail their tag (the index is in the AAD), a file cut
at a chunk boundary fails because its new last chunk was not sealed as final, and bytes
appended after the final chunk make that chunk non-final, which fails too. The reader checks
the last chunk when it opens a file, so truncation and appending are refused at once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"CCBE"
VERSION = 1
KEY_BYTES = 32
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
CHUNK = 64 * 1024  # plaintext bytes per chunk
_HEADER = struct.Struct(">4sB8sI12s")
HEADER_BYTES = _HEADER.size


class EncryptionError(ValueError):
    """A recording cannot be decrypted: not ours, another key, or damaged."""


class KeyFileError(ValueError):
    """The key file is missing, of the wrong size, or readable by others."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:KEY_ID_BYTES]


def load_key(path: Path) -> bytes:
    """The 32 raw bytes of ``path``; refused when another size or open to group/others."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise KeyFileError(f"recording key {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise KeyFileError(f"recording key {path}: not a regular file")
        if st.st_mode & 0o077:
            raise KeyFileError(
                f"recording key {path}: readable by group or others "
                f"(mode {stat.S_IMODE(st.st_mode):04o}); run: chmod 600 {path}"
            )
        key = f.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise KeyFileError(
            f"recording key {path}: {len(key) if len(key) <= KEY_BYTES else 'more than 32'} "
            f"bytes, a key is exactly {KEY_BYTES} raw bytes (make one with: "
            "ccbox recording-key --out FILE)"
        )
    return key


def configured_key(path: Path | None) -> bytes | None:
    """The key ``[recording] encryption_key_file`` names, None when it names none; a bad
    key file raises ``KeyFileError`` (the daemon refuses to start rather than store plain
    audio an admin asked to have encrypted)."""
    return None if path is None else load_key(path)


def write_new_key(path: Path) -> None:
    """A new random key in ``path`` (mode 0600); an existing file is never overwritten."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path} exists already: not overwriting a key") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the umask
            f.write(secrets.token_bytes(KEY_BYTES))
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _nonce(base: bytes, index: int) -> bytes:
    return (int.from_bytes(base, "big") ^ index).to_bytes(NONCE_BYTES, "big")


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, 1 if final else 0)


class Sink(Protocol):
    def write(self, data: bytes, /) -> int | None: ...


class EncryptingWriter:
    """Encrypts what is written to it into ``sink``; ``finish()`` seals the final chunk
    (without it the file is incomplete and the reader refuses it)."""

    def __init__(self, sink: Sink, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a recording key is {KEY_BYTES} bytes, not {len(key)}")
        self._sink = sink
        self._aead = AESGCM(key)
        self._header = _HEADER.pack(MAGIC, VERSION, key_id(key), CHUNK, secrets.token_bytes(12))
        self._base = self._header[-NONCE_BYTES:]
        self._buf = bytearray()
        self._index = 0
        self._finished = False
        sink.write(self._header)

    def write(self, data: bytes) -> int:
        if self._finished:
            raise ValueError("write after finish")
        self._buf += data
        # A chunk is sealed only once more data follows it: the last one must be final.
        while len(self._buf) > CHUNK:
            self._seal(bytes(self._buf[:CHUNK]), final=False)
            del self._buf[:CHUNK]
        return len(data)

    def finish(self) -> None:
        if not self._finished:
            self._seal(bytes(self._buf), final=True)
            self._buf.clear()
            self._finished = True

    def _seal(self, plain: bytes, final: bool) -> None:
        nonce = _nonce(self._base, self._index)
        self._sink.write(self._aead.encrypt(nonce, plain, _aad(self._header, self._index, final)))
        self._index += 1


def encrypt_bytes(plain: bytes, key: bytes, sink: Sink) -> None:
    w = EncryptingWriter(sink, key)
    w.write(plain)
    w.finish()


def plaintext_size(stored_size: int) -> int:
    """The plaintext size of an encrypted file of ``stored_size`` bytes (ValueError when no
    well-formed file has that size)."""
    body = stored_size - HEADER_BYTES
    if body < TAG_BYTES:
        raise EncryptionError("truncated: shorter than one sealed chunk")
    sealed = CHUNK + TAG_BYTES
    chunks = max(1, -(-body // sealed))
    if body - (chunks - 1) * sealed < TAG_BYTES:
        raise EncryptionError("truncated inside a chunk")
    return body - chunks * TAG_BYTES


class DecryptingReader:
    """Random access to the plaintext of an encrypted recording in ``f`` (seekable).

    Opening checks the header (ours, this version, this key) and the final chunk; each
    ``read`` decrypts only the chunks it covers and keeps the last one for the next read."""

    def __init__(self, f: BinaryIO, key: bytes) -> None:
        self._f = f
        header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            raise EncryptionError("not an encrypted recording: too short for the header")
        magic, version, kid, chunk, base = _HEADER.unpack(header)
        if magic != MAGIC:
            raise EncryptionError("not an encrypted recording (no ccbox header)")
        if version != VERSION:
            raise EncryptionError(f"encrypted with format version {version}, this ccbox reads 1")
        if kid != key_id(key):
            raise EncryptionError(
                f"encrypted with another key (key id {kid.hex()}, the configured key is "
                f"{key_id(key).hex()})"
            )
        if chunk != CHUNK:
            raise EncryptionError(f"chunk size {chunk}, this ccbox reads {CHUNK}")
        self._header, self._base = header, base
        self._aead = AESGCM(key)
        stored = os.fstat(f.fileno()).st_size
        self.size = plaintext_size(stored)
        self._chunks = max(1, -(-self.size // CHUNK)) if self.size else 1
        self._cached: tuple[int, bytes] | None = None
        self._chunk(self._chunks - 1)  # refuses a truncated or extended file now

    def _chunk(self, index: int) -> bytes:
        if self._cached is not None and self._cached[0] == index:
            return self._cached[1]
        final = index == self._chunks - 1
        want = (self.size - index * CHUNK if final else CHUNK) + TAG_BYTES
        self._f.seek(HEADER_BYTES + index * (CHUNK + TAG_BYTES))
        sealed = self._f.read(want)
        if len(sealed) != want:
            raise EncryptionError(f"truncated at chunk {index}")
        try:
            plain = self._aead.decrypt(
                _nonce(self._base, index), sealed, _aad(self._header, index, final)
            )
        except InvalidTag:
            raise EncryptionError(
                f"damaged: chunk {index} fails its integrity check "
                "(changed, reordered, truncated or extended)"
            ) from None
        self._cached = (index, plain)
        return plain

    def read(self, offset: int, length: int) -> bytes:
        """Plaintext bytes [offset, offset + length), cut at the end."""
        offset = max(0, offset)
        end = min(self.size, offset + max(0, length))
        out = bytearray()
        pos = offset
        while pos < end:
            index = pos // CHUNK
            plain = self._chunk(index)
            start = pos - index * CHUNK
            piece = plain[start : start + (end - pos)]
            out += piece
            pos += len(piece)
        return bytes(out)

    def close(self) -> None:
        self._f.close()


def decrypt_file(path: Path, key: bytes) -> bytes:
    """The whole plaintext of an encrypted file (every chunk checked)."""
    with path.open("rb") as f:
        reader = DecryptingReader(f, key)
        return reader.read(0, reader.size)
