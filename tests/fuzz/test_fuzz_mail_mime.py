"""drivers/mail/mime.parse under hypothesis: any bytes a sender can send -- the hand-written
fixtures cut, spliced and salted with the pieces mail parsers trip on -- end in a
ParsedMail, never an exception, with no control character in a header, no script in the
HTML, no folder or control character in a file name, and nothing past the size bound."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from drivers.mail.mime import ParsedMail, parse
from tests.fuzz.budget import fuzz

FIXTURES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "mail").glob("*.eml"))
SEEDS = [p.read_bytes() for p in FIXTURES]

_PIECES = st.sampled_from(
    [
        b"\r\n", b"\n", b"\r\n\r\n", b"\x00", b"\xff\xfe", b"\x80", b"\xe4\xbd",
        b"=?", b"?=", b"=?utf-8?B?", b"=?gb2312?Q?=B6=A9", b"=?x-unknown?b?!!?=",
        b"=?utf-8?q?=0D=0ABcc:_x@y?=", b"Content-Type: multipart/mixed; boundary=Z\r\n",
        b"--Z\r\n", b"--Z--\r\n", b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n", b"=\r\n", b"=ZZ",
        b"Content-Type: message/rfc822\r\n\r\n", b"charset=\"rot13\"", b"charset=big5",
        b"charset=idna", b"charset=utf-16", b"charset=utf-7", b"charset=unicode_escape",
        b"filename*0*=utf-8''%E4%BD; filename*1=\"../x\"", b"name=\"..\\\\a\\\\b\"",
        b"<script>alert(1)</script>", b"<img src=x onerror=alert(1)>",
        b"Content-Type: text/html\r\n\r\n", b"Subject: ", b"From: ", b"<>", b"@",
    ]
)  # fmt: skip


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(raw)))
        kind = draw(st.sampled_from(["insert", "cut", "flip"]))
        if kind == "insert":
            raw[at:at] = draw(_PIECES)
        elif kind == "cut":
            del raw[at : at + draw(st.integers(1, 200))]
        elif raw:
            raw[min(at, len(raw) - 1)] ^= draw(st.integers(1, 255))
    return bytes(raw)


def _safe(m: ParsedMail) -> None:
    for header in (m.subject, m.from_name, m.from_addr, m.reply_to, m.message_id, *m.to):
        assert not any(ord(c) < 32 or ord(c) == 127 for c in header), header
    assert "<script" not in m.html.lower() and "onerror" not in m.html.lower()
    for a in m.attachments:
        assert a.file_name and "/" not in a.file_name and "\\" not in a.file_name
        assert not any(ord(c) < 32 for c in a.file_name)


@fuzz(300)
@given(mails())
def test_any_mail_parses_safely(raw: bytes) -> None:
    _safe(parse(raw, max_bytes=1_000_000))


@fuzz(100)
@given(mails(), st.integers(0, 4000))
def test_the_size_bound_holds(raw: bytes, limit: int) -> None:
    m = parse(raw, max_bytes=limit)
    _safe(m)
    if len(raw) > limit:
        assert m.too_large and m.text == "" and m.attachments == []
    else:
        assert not m.too_large
