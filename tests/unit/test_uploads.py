"""Uploads: the type is read from the content (never the name), hostile files are refused with
a clear reason, and what is taken is stored once by its sha256 with a name fit to show."""

from __future__ import annotations

import hashlib
import io
import random
import struct
import wave
import zipfile
from pathlib import Path

import pytest

from appliance.uploads import DOCX, MB, XLSX, UploadRefused, UploadStore, clean_filename, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


def _office(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", b"<Types/>")
        for name, data in parts.items():
            z.writestr(name, data)
    return out.getvalue()


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(struct.pack("<4h", 0, 1, -1, 0))
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (PNG, "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg"),
        (b"GIF89a\x01\x00\x01\x00", "image/gif"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "application/pdf"),
        (_office({"word/document.xml": b"<w:document/>"}), DOCX),
        (_office({"xl/workbook.xml": b"<workbook/>"}), XLSX),
        ("你好, hello\r\n\ta < b".encode(), "text/plain"),
        (_wav(), "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00", "audio/mpeg"),
        (b"OggS\x00\x02", "audio/ogg"),
    ],
)
def test_the_allowed_types_are_known_by_their_content(data: bytes, mime: str) -> None:
    assert sniff(data) == mime


def test_a_renamed_program_is_refused_whatever_its_name(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    assert sniff(EXE) is None
    with pytest.raises(UploadRefused, match="this kind of file is not accepted"):
        store.put(EXE, "invoice.pdf")
    assert sniff(b"\x7fELF\x02\x01\x01" + b"\x00" * 50) is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "data",
    [
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        b'<?xml version="1.0"?><svg><script>alert(1)</script></svg>',
        b"\xef\xbb\xbf  <!DOCTYPE html><html><body>hi</body></html>",
        b"hello\n<script>alert(document.cookie)</script>",
        b"<HTML><img src=x onerror=alert(1)>",
        b"a plain start\n" * 1000 + b"<iframe src=//evil>",
    ],
)
def test_svg_and_html_posing_as_an_image_are_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(UploadRefused, match="HTML, SVG and XML"):
        UploadStore(tmp_path).put(data, "photo.png")


def test_a_zip_bomb_sized_document_is_refused(tmp_path: Path) -> None:
    bomb = _office({"word/document.xml": b"\x00" * (20 * MB)})
    assert len(bomb) < 100_000  # packs to almost nothing
    with pytest.raises(UploadRefused, match="ZIP bomb"):
        UploadStore(tmp_path).put(bomb, "report.docx")
    # unpacking to more than the limit in total is refused too, at any ratio
    noise = random.Random(1).randbytes(MB)
    big = _office({"word/document.xml": b"<d/>", **{f"word/media/{i}": noise for i in range(3)}})
    with pytest.raises(UploadRefused, match="ZIP bomb"):
        UploadStore(tmp_path, max_unpacked=2 * MB).put(big, "a.docx")
    assert list(tmp_path.iterdir()) == []


def test_other_zips_macros_and_broken_archives_are_refused(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    cases = {
        "only Word and Excel": _office({"evil.exe": EXE}),
        "macros": _office({"word/document.xml": b"<d/>", "word/vbaProject.bin": b"x"}),
        "damaged": b"PK\x03\x04" + b"\x00" * 40,
    }
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("a.txt", "x")
    cases["only Word and Excel "] = plain.getvalue()
    for message, data in cases.items():
        with pytest.raises(UploadRefused, match=message.strip()):
            store.put(data, "x.docx")


def test_an_empty_or_too_large_file_is_refused(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    with pytest.raises(UploadRefused, match="empty"):
        store.put(b"", "empty.png")
    with pytest.raises(UploadRefused, match="larger than 2 MB"):
        store.put(b"a" * (2 * MB + 1), "big.txt")
    with pytest.raises(UploadRefused, match="larger than 50 MB"):
        store.put(b"OggS" + b"\x00" * (50 * MB), "huge.ogg")


def test_a_file_is_stored_once_by_its_hash_with_a_clean_name(tmp_path: Path) -> None:
    store = UploadStore(tmp_path)
    one = store.put(PNG, "../../etc/passwd\x00.png")
    two = store.put(PNG, "C:\\photos\\same.PNG")
    sha = hashlib.sha256(PNG).hexdigest()
    assert (one.sha256, one.size, one.mime) == (sha, len(PNG), "image/png")
    assert (one.filename, two.filename) == ("passwd.png", "same.PNG")
    stored = store.path(sha)
    assert stored == tmp_path / sha[:2] / sha and stored.read_bytes() == PNG
    assert [p.name for p in (tmp_path / sha[:2]).iterdir()] == [sha]  # no temporary left
    for bad in ("../" + sha, sha.upper(), "0" * 64, "x"):
        assert store.path(bad) is None


def test_the_name_gets_the_extension_of_what_the_file_is() -> None:
    assert clean_filename("invoice.exe", "application/pdf") == "invoice.exe.pdf"
    assert clean_filename("photo.jpeg", "image/jpeg") == "photo.jpeg"
    assert clean_filename("", "text/plain") == "file.txt"
    assert clean_filename(".htaccess", "text/plain") == "htaccess.txt"
    long = clean_filename("a" * 4000 + ".png", "image/png")
    assert len(long) == 255 and long.endswith(".png")
