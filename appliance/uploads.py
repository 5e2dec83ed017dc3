"""Uploaded files (ticket and knowledge-base attachments): their type read from their content
against an allowlist, their size capped, stored once by their content's sha256.

The type is never taken from the name or the browser's Content-Type: a renamed program, an
SVG or HTML page posing as an image, a ZIP bomb posing as a document are refused with a
clear message. The signatures are a small table here rather than a library's: every type on
the allowlist is a fixed prefix of a few bytes (RIFF's kind at offset 8), and the two that
are not (Office files and text) need checks no magic-number library does (the ZIP's entries
and their unpacked size; text that is not markup), so a library would add guesses about
hundreds of types we refuse anyway without saving any of the work.

Files are written to a temporary file beside their final place and renamed into it, so a
full disk or a crash never leaves a partial file under a hash name. ``UploadStore.put`` does
disk work: call it from a web handler's thread, or ``put_later`` from the reactor.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from appliance.text import N_

if TYPE_CHECKING:
    from twisted.internet import defer
    from twisted.internet.interfaces import IReactorFromThreads
    from twisted.python.threadpool import ThreadPool

MB = 1024 * 1024
# The most a file of each type may weigh (the web server's body limit must allow the largest).
MAX_SIZES = {
    "image/png": 10 * MB,
    "image/jpeg": 10 * MB,
    "image/gif": 10 * MB,
    "image/webp": 10 * MB,
    "application/pdf": 20 * MB,
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": 20 * MB,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": 20 * MB,
    "text/plain": 2 * MB,
    "audio/wav": 50 * MB,
    "audio/mpeg": 50 * MB,
    "audio/ogg": 50 * MB,
}
MAX_SIZE = max(MAX_SIZES.values())
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# An Office file (a ZIP) may unpack to at most this much, in at most this many entries, no
# entry more than this many times its packed size (a ZIP bomb unpacks 1,000 times and more;
# real documents' XML 5 to 20 times).
MAX_UNPACKED = 100 * MB
MAX_ENTRIES = 5000
MAX_RATIO = 200
FILENAME_MAX = 255
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    DOCX: ".docx",
    XLSX: ".xlsx",
    "text/plain": ".txt",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
}
assert set(EXTENSIONS) == set(MAX_SIZES)

# (prefix, MIME type): the files whose first bytes say what they are.
_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"ID3", "audio/mpeg"),
)
# RIFF files name their kind at offset 8.
_RIFF = {b"WAVE": "audio/wav", b"WEBP": "image/webp"}
# An MPEG audio frame without an ID3 tag: 11 sync bits, then MPEG-1/2/2.5 layer III.
_MP3_FRAME = re.compile(rb"\xff[\xe2\xe3\xf2\xf3\xfa\xfb]")
# Text that a browser would render as a page or a picture: refused even as text.
_MARKUP = re.compile(rb"<\s*(!doctype|html|svg|script|\?xml|body|iframe|object|embed)", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class UploadRefused(ValueError):
    """The file is not taken (an ``N_`` text a person reads)."""


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    size: int
    mime: str
    filename: str  # the sender's name, cleaned: shown and offered on download, never a path


def _office_kind(data: bytes, max_unpacked: int) -> str:
    """DOCX or XLSX for a ZIP that is one (by its entries), else UploadRefused: not an
    Office file, a macro-enabled one, or one that unpacks too big (a ZIP bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise UploadRefused(N_("the file is a damaged ZIP archive")) from None
    if len(infos) > MAX_ENTRIES:
        raise UploadRefused(N_("the document has too many parts"))
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UploadRefused(N_("encrypted documents are not accepted"))
        total += info.file_size
        if info.file_size > MAX_RATIO * max(info.compress_size, 1) and info.file_size > MB:
            raise UploadRefused(N_("the document unpacks to far more than its size (a ZIP bomb)"))
    if total > max_unpacked:
        raise UploadRefused(N_("the document unpacks to far more than its size (a ZIP bomb)"))
    names = {i.filename for i in infos}
    if "[Content_Types].xml" not in names:
        raise UploadRefused(N_("ZIP archives are not accepted, only Word and Excel documents"))
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise UploadRefused(N_("documents with macros are not accepted"))
    if "word/document.xml" in names:
        return DOCX
    if "xl/workbook.xml" in names:
        return XLSX
    raise UploadRefused(N_("ZIP archives are not accepted, only Word and Excel documents"))


def _is_text(data: bytes) -> bool:
    """UTF-8 text (a BOM allowed) with no controls but tab, CR, LF, and no markup."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not _CONTROL.search(text)


def sniff(data: bytes, max_unpacked: int = MAX_UNPACKED) -> str | None:
    """The MIME type of ``data`` from its content, when it is on the allowlist; None when it
    is not. Raises UploadRefused for a file it can name but refuses (a ZIP bomb, a
    macro-enabled document, HTML or SVG in a text file)."""
    for prefix, mime in _PREFIXES:
        if data.startswith(prefix):
            return mime
    if data[:4] == b"RIFF" and len(data) >= 12 and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    if _MP3_FRAME.match(data[:2]):
        return "audio/mpeg"
    if data[:4] == b"PK\x03\x04":
        return _office_kind(data, max_unpacked)
    if _is_text(data):
        if _MARKUP.search(data):
            raise UploadRefused(N_("HTML, SVG and XML files are not accepted"))
        return "text/plain"
    return None


def clean_filename(name: str, mime: str) -> str:
    """The sender's file name fit to show: no directories, no controls, at most 255
    characters, and the extension of what the file really is."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).replace("\x00", "").strip().lstrip(".") or "file"
    stem, dot, ext = name.rpartition(".")
    want = EXTENSIONS[mime]
    fits = "." + ext.lower() == want or (want == ".jpg" and ext.lower() == "jpeg")
    if not dot or not fits:
        stem = name
        ext = want[1:]
    stem = stem[: FILENAME_MAX - len(ext) - 1]
    return f"{stem}.{ext}"


def uploads_root(data_dir: Path | str) -> Path:
    """Where the box keeps uploaded files: ``<data_dir>/uploads`` (tickets' and the
    knowledge base's, one store by hash)."""
    return Path(data_dir) / "uploads"


class UploadStore:
    """Files under ``root`` by their sha256 (``ab/abcdef...``): the same content is stored
    once whatever it was called."""

    def __init__(self, root: Path | str, max_unpacked: int = MAX_UNPACKED) -> None:
        self.root = Path(root)
        self.max_unpacked = max_unpacked

    def check(self, data: bytes) -> str:
        """The file's MIME type, or UploadRefused saying why not."""
        if not data:
            raise UploadRefused(N_("the file is empty"))
        if len(data) > MAX_SIZE:
            raise UploadRefused(N_("the file is larger than {mb} MB", mb=MAX_SIZE // MB))
        mime = sniff(data, self.max_unpacked)
        if mime is None:
            raise UploadRefused(
                N_(
                    "this kind of file is not accepted: images (PNG, JPEG, GIF, WebP), PDF,"
                    " Word and Excel documents, text, and audio (WAV, MP3, Ogg)"
                )
            )
        if len(data) > MAX_SIZES[mime]:
            raise UploadRefused(N_("the file is larger than {mb} MB", mb=MAX_SIZES[mime] // MB))
        return mime

    def put(self, data: bytes, filename: str) -> StoredFile:
        """Check and store ``data`` (blocking disk work); UploadRefused, OSError (a full
        disk: nothing is left behind)."""
        mime = self.check(data)
        sha = hashlib.sha256(data).hexdigest()
        final = self._place(sha)
        if not final.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, final)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return StoredFile(sha, len(data), mime, clean_filename(filename, mime))

    def put_later(
        self, reactor: IReactorFromThreads, pool: ThreadPool, data: bytes, filename: str
    ) -> defer.Deferred[StoredFile]:
        """``put`` in ``pool``, for callers on the reactor thread."""
        from twisted.internet import threads

        return threads.deferToThreadPool(reactor, pool, self.put, data, filename)

    def _place(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def path(self, sha256: str) -> Path | None:
        """The stored file of that hash; None for anything else (not a hash, not stored)."""
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            return None
        place = self._place(sha256)
        return place if place.is_file() else None
