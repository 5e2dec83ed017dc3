"""drivers/mail/mime.py on hand-written mails (tests/fixtures/mail/*.eml): every charset the
issue names, the broken forms mailers send, and hostile mail (scripts, header injection,
paths in file names, NUL bytes, a huge attachment declared small, 1,000 nested parts)."""

# ruff: noqa: RUF001  (Chinese text keeps its own punctuation)
from __future__ import annotations

import base64
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from twisted.internet import reactor
from twisted.trial import unittest

from drivers.mail import mime
from drivers.mail.mime import (
    MAX_DEPTH,
    MAX_PARTS,
    HeadersOnly,
    ParsedMail,
    parse,
    safe_file_name,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"
LIMIT = 10 * 1024 * 1024


def fixture(name: str) -> ParsedMail:
    return parse((FIXTURES / name).read_bytes(), max_bytes=LIMIT)


def no_controls(value: str) -> bool:
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def test_gb2312_label_carries_gbk_characters_in_quoted_printable() -> None:
    m = fixture("gb2312_qp.eml")
    assert m.subject == "订单查询"
    assert (m.from_name, m.from_addr) == ("张三", "zhang@example.cn")
    # 镕 is GBK, not GB2312: read as GB18030, the superset, it survives
    assert m.text == "您好，朱镕基同志的订单号是 A-1001。\n谢谢！"
    assert m.message_id == "<gb2312-1@mail.example.cn>"
    assert m.date == datetime(2026, 12, 7, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert m.problems == []


def test_gbk_base64_with_missing_padding_and_q_encoded_subject() -> None:
    m = fixture("gbk_base64_bad_padding.eml")
    assert m.subject == "退货"
    assert m.text == "退货申请：商品有瑕疵，请尽快处理。"
    assert m.from_name == "Li Si"


def test_gb18030_four_byte_characters() -> None:
    m = fixture("gb18030.eml")
    assert m.subject == "生僻字𠀀"
    assert m.text == "生僻字𠀀与欧元€。"


def test_big5_label_read_as_big5_hkscs() -> None:
    m = fixture("big5_hkscs.eml")
    assert m.subject == "維修查詢"
    assert m.from_name == "陳大文"
    assert m.text == "請問𨋢何時修好？台北門市。"  # 𨋢 is HKSCS only
    assert m.problems == []


def test_latin1_label_reads_windows_1252_quotes_and_euro() -> None:
    m = fixture("latin1_qp.eml")
    assert m.from_name == "Renée Müller"
    assert m.subject == "café"
    assert m.text == "Café crème “quoted” € 5"


def test_utf8_alternative_keeps_text_and_sanitizes_html() -> None:
    m = fixture("utf8_alternative_script.eml")
    assert m.subject == "你好 world"
    assert m.to == ("support@example.com", "bob@example.com")
    assert m.cc == ("carol@example.com",)
    assert m.text == "你好 Ann\nhelp: https://example.com/help"
    assert "<b>Ann</b>" in m.html
    assert 'href="https://example.com/help"' in m.html
    lowered = m.html.lower()
    for bad in ("<script", "alert", "onclick", "javascript:", "<iframe", "tracker.example",
                "<style", "color:red"):  # fmt: skip
        assert bad not in lowered, bad


def test_html_only_mail_gets_its_text_from_the_html() -> None:
    m = fixture("html_only.eml")
    assert m.text == "第一行\nsecond line"
    assert m.html == "<div>第一行</div><div>second <i>line</i></div>"


def test_html_nested_too_deep_to_clean_is_kept_as_text() -> None:
    """html5ever's time grows with the square of the nesting: 5,000 nested <div> (30 KB)
    are not cleaned (a 1 MB mail of them took minutes of CPU), the text is kept."""
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg.set_content("<div>深" * 5000 + "<script>alert(1)</script>", subtype="html")
    m = parse(msg.as_bytes(), max_bytes=LIMIT)
    assert m.html == ""
    assert m.text == "\n".join(["深"] * 5000)
    assert any("nests elements deeper than" in p for p in m.problems)


def test_a_header_of_unclosed_encoded_words_is_read_in_linear_time() -> None:
    """Each unclosed word's scan ran to the end of the header: 32,000 of them (224 KB)
    kept the regex, and the GIL, for 72 s; now milliseconds."""
    raw = b"From: a@example.com\r\nSubject: " + b"=?a?b?x" * 32_000 + b"\r\n\r\nhi\r\n"
    started = time.perf_counter()
    m = parse(raw, max_bytes=LIMIT)
    assert time.perf_counter() - started < 10  # generous: the old regex took 72 s here
    assert m.subject.startswith("=?a?b?x=?a?b?x")
    assert m.text == "hi"


def test_a_content_type_of_a_million_bytes_is_cut_and_read_at_once() -> None:
    """The stdlib's parameter parser is quadratic: 1 MB of "a=b;" took it 16 s (a 25 MB
    mail of them, hours), and the text was lost; the field is cut at 4 KB, its charset
    still read."""
    raw = (
        b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=gbk; "
        + b"a=b;" * 250_000
        + b"name=x\r\n\r\n"
        + "您好".encode("gbk")
    )
    started = time.perf_counter()
    m = parse(raw, max_bytes=LIMIT)
    assert time.perf_counter() - started < 8  # generous: it took 16 s before
    assert m.text == "您好" and m.subject == "x"
    assert any("over 4096 bytes was cut" in p for p in m.problems)


def test_an_encoded_words_text_stops_at_a_question_mark() -> None:
    m = ParsedMail()
    assert mime.decode_header("=?utf-8?q?caf=C3=A9?= =?utf-8?b?5L2g5aW9?=", m) == "café你好"
    assert mime.decode_header("=?utf-8?q?a?b =?utf-8?q?ok?=", m) == "=?utf-8?q?a?b ok"


def test_mislabelled_and_unknown_charsets_are_read_and_noted() -> None:
    m = fixture("mislabelled_charset.eml")
    assert "标签说 ASCII，其实是 UTF-8" in m.text  # labelled us-ascii, is UTF-8
    # an unknown label on GBK bytes: read as Chinese, noted
    assert m.text.endswith("未知编码的文字 tail")
    assert any("x-no-such-charset" in p and "GB18030" in p for p in m.problems)


def test_gbk_labelled_utf8_is_read_as_chinese() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        + "退货，谢谢".encode("gbk")
    )
    m = parse(raw, max_bytes=LIMIT)
    assert m.text == "退货，谢谢"
    assert any("GB18030" in p for p in m.problems)


def test_unreadable_bytes_are_replaced_and_the_rest_kept() -> None:
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nhead \xff\xfe\x80 tail"
    m = parse(raw, max_bytes=LIMIT)
    assert m.text.startswith("head ") and m.text.endswith(" tail") and "\ufffd" in m.text
    assert any("replaced" in p for p in m.problems)


def test_broken_encoded_words_in_quotes_adjacent_and_with_spaces() -> None:
    m = fixture("broken_encoded_words.eml")
    assert (m.from_name, m.from_addr) == ("张三", "zhang@example.cn")
    assert m.subject == "Re:你好Hello World"
    assert m.reply_to == "desk@example.cn"


def test_rfc2231_and_hostile_file_names() -> None:
    m = fixture("rfc2231_attachments.eml")
    assert m.text == "see attached"
    names = [a.file_name for a in m.attachments]
    assert names[0] == "报价单.pdf"
    assert names[1] == "合同_part2.docx"  # continuation parameters joined
    assert names[2] == "evil.txt"  # the path is gone
    assert names[3] == "图片.png"  # RFC 2047 in a file name (not standard, common)
    assert all("/" not in n and "\\" not in n and no_controls(n) for n in names)
    assert m.attachments[0].data == b"%PDF-1.4\n%fake\n"
    assert m.attachments[0].declared_type == "application/pdf"
    assert m.attachments[3].data.startswith(b"\x89PNG")


def test_safe_file_name() -> None:
    assert safe_file_name("../../etc/passwd") == "passwd"
    assert safe_file_name("C:\\Users\\x\\.bashrc") == "bashrc"
    assert safe_file_name("a\r\nb\x00.txt") == "ab.txt"
    assert safe_file_name("...") == "attachment"
    long = safe_file_name("名" * 500 + ".pdf")
    assert len(long) == 200 and long.endswith(".pdf")


def test_forwarded_message_is_read_inside() -> None:
    m = fixture("forwarded.eml")
    assert m.text.startswith("Please look at this.")
    assert "From: 顾客 <customer@example.cn>" in m.text
    assert "Subject: 投诉" in m.text
    assert m.text.endswith("产品坏了")
    assert m.message_id == "<fwd-1@example.com>"  # the outer mail's, not the inner one's


def test_related_inline_image_is_an_attachment_and_cid_is_not_a_link() -> None:
    m = fixture("related_inline_image.eml")
    assert [(a.file_name, a.declared_type) for a in m.attachments] == [("shot.png", "image/png")]
    assert "cid:" not in m.html and 'alt="screen"' in m.html
    assert m.text == "see screen"


def test_header_injection_leaves_no_line_break() -> None:
    m = fixture("header_injection.eml")
    assert m.subject == "hello Bcc: victim@example.org body"
    assert m.from_addr == "mallory@example.org"  # the crafted name hid no second address
    assert no_controls(m.subject) and no_controls(m.from_name)
    assert m.to == ("support@example.com",)


@pytest.mark.parametrize(
    ("name", "charset_note"),
    [("eightbit_headers_utf8.eml", False), ("eightbit_headers_gbk.eml", True)],
)
def test_raw_8bit_headers(name: str, charset_note: bool) -> None:
    m = fixture(name)
    assert m.subject == "发票问题"
    assert m.text == "正文"
    assert any("GB18030" in p for p in m.problems) is charset_note
    if not charset_note:
        assert m.from_name == "李四"


def test_nul_bytes_are_removed_and_noted() -> None:
    m = fixture("nul_bytes.eml")
    assert m.text == "beforeafter"
    assert m.subject == "nul here"
    assert any("NUL" in p for p in m.problems)


def test_auto_reply_signs_are_read() -> None:
    m = fixture("auto_reply.eml")
    assert m.auto_submitted == "auto-replied"
    assert m.precedence == "bulk"
    assert m.x_auto_response_suppress == "All"
    assert m.list_id == "Support list <support.lists.example.net>"
    assert m.return_path == "<>"
    assert m.in_reply_to == "<ccbox-reply-1@example.com>"


def test_thread_headers() -> None:
    m = fixture("thread_reply.eml")
    assert m.message_id == "<reply-2@example.cn>"
    assert m.in_reply_to == "<ccbox-reply-1@example.com>"
    assert m.references == ("<first-1@example.cn>", "<ccbox-reply-1@example.com>")
    assert m.date == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert m.text == "Thanks, it works now.\n\n> earlier text"


def test_a_huge_attachment_declared_small_keeps_headers_only() -> None:
    head = (
        b"From: big@example.com\r\nSubject: small file\r\nMessage-ID: <big@example.com>\r\n"
        b"Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n"
        b"\r\nhi\r\n--X\r\nContent-Type: application/pdf\r\nContent-Length: 100\r\n"
        b"Content-Disposition: attachment; filename=small.pdf; size=100\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n"
    )
    raw = head + b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n" * 800_000
    assert len(raw) > 50 * 1024 * 1024
    started = time.perf_counter()
    m = parse(raw, max_bytes=LIMIT)
    assert time.perf_counter() - started < 5  # generous: it reads the headers only
    assert m.too_large
    assert (m.subject, m.from_addr, m.message_id) == (
        "small file",
        "big@example.com",
        "<big@example.com>",
    )
    assert m.text == "" and m.attachments == []
    assert any("over the limit" in p for p in m.problems)


def test_at_the_limit_is_not_too_large() -> None:
    raw = (FIXTURES / "gb2312_qp.eml").read_bytes()
    assert not parse(raw, max_bytes=len(raw)).too_large
    assert parse(raw, max_bytes=len(raw) - 1).too_large


def _nested(depth: int) -> bytes:
    body = b"".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
        for i in range(depth)
    )
    body += b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    body += b"".join(f"--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return b"From: deep@example.com\r\nSubject: deep\r\n" + body


def test_a_thousand_nested_parts_keep_the_headers() -> None:
    m = parse(_nested(1000), max_bytes=LIMIT)
    assert m.subject == "deep" and m.from_addr == "deep@example.com"
    assert m.problems  # said, not raised
    assert "innermost" not in m.text


def test_nesting_beyond_the_limit_is_cut_and_noted() -> None:
    m = parse(_nested(MAX_DEPTH + 5), max_bytes=LIMIT)
    assert "innermost" not in m.text
    assert any("nested deeper" in p for p in m.problems)
    shallow = parse(_nested(5), max_bytes=LIMIT)
    assert shallow.text == "innermost"


def test_a_thousand_sibling_parts_are_bounded() -> None:
    raw = b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n"
    raw += b"".join(
        b"--X\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n" for _ in range(1000)
    )
    raw += b"--X--\r\n"
    m = parse(raw, max_bytes=LIMIT)
    assert len(m.attachments) == MAX_PARTS
    assert any("left out" in p for p in m.problems)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: =?utf-8?B?!!!?=\r\n\r\n",
        b"Subject: =?base64?Q?x?=\r\nContent-Type: text/plain; charset=rot13\r\n\r\nuryyb",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary at all",
        b"Content-Type: text/plain; charset*=''\r\nContent-Transfer-Encoding: base64\r\n\r\n=",
        b"From: <<<@@@>>>, ,,,\r\nDate: Feb 30 99999\r\nMessage-ID: no brackets\r\n\r\nx",
        b"Content-Type: message/rfc822\r\n\r\nnot a message",
        b"Content-Type: text/html\r\n\r\n<scr<script>ipt>alert(1)</script>",
    ],
)
def test_garbage_never_raises(raw: bytes) -> None:
    m = parse(raw, max_bytes=LIMIT)
    assert isinstance(m, ParsedMail)
    assert no_controls(m.subject)
    assert "<script" not in m.html


def test_non_text_codec_labels_are_not_run() -> None:
    raw = b"Content-Type: text/plain; charset=rot13\r\n\r\nuryyb"
    m = parse(raw, max_bytes=LIMIT)
    assert m.text == "uryyb"  # never "hello": rot13 is no charset
    b64_label = b"Subject: =?base64?B?" + base64.b64encode(b"aGk=") + b"?=\r\n\r\n"
    assert parse(b64_label, max_bytes=LIMIT).subject == "aGk="


def test_headers_only_from_the_imap_watcher_is_too_large() -> None:
    raw = (FIXTURES / "gb2312_qp.eml").read_bytes()
    head = raw[: raw.index(b"\r\n\r\n") + 4]
    m = parse(HeadersOnly(head, 80_000_000), max_bytes=LIMIT)
    assert m.too_large and m.subject == "订单查询" and m.text == ""
    assert any("80000000 bytes" in p for p in m.problems)


@pytest.mark.parametrize(
    "label", ["idna", "punycode", "unicode_escape", "raw-unicode-escape", "undefined", "utf\x008"]
)
def test_python_codecs_that_are_no_charset_are_not_run(label: str) -> None:
    raw = b"Content-Type: text/plain; charset=" + label.encode() + b"\r\n\r\nA\\x41 \xe4\xbd\xa0"
    m = parse(raw, max_bytes=LIMIT)
    assert m.text == "A\\x41 你"  # read as UTF-8, the escape left as it is


class ParseInThreadTests(unittest.TestCase):
    async def test_parsed_in_the_thread_pool_not_on_the_reactor(self) -> None:
        seen: list[str] = []
        real = mime.parse

        def watched(raw: bytes, *, max_bytes: int) -> ParsedMail:
            seen.append(threading.current_thread().name)
            return real(raw, max_bytes=max_bytes)

        self.patch(mime, "parse", watched)
        raw = (FIXTURES / "big5_hkscs.eml").read_bytes()
        m = await mime.parse_in_thread(reactor, raw, max_bytes=LIMIT)
        assert m.subject == "維修查詢"
        assert seen and seen[0] != threading.main_thread().name
