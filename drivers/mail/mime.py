"""One e-mail as the box keeps it: headers decoded, plain text, sanitized HTML, attachments.

``parse`` never raises on what a sender wrote: a broken part becomes a note in
``ParsedMail.problems`` and the rest is kept. Everything in a mail is attacker-controlled:
headers lose their control characters (no CR/LF reaches anything built from them), HTML is
cleaned by drivers/mail/html.py's allowlist (nh3), file names lose their folders, and the
number and depth of parts are bounded.

Charsets: GB2312 is read as GB18030 (its superset: mail labelled GB2312 carries GBK
characters), GBK likewise, Big5 as Big5-HKSCS; a part whose bytes do not fit its label is
read as UTF-8 when they fit that, else with replacement characters, and noted.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.utils
import hashlib
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from twisted.internet import threads
from twisted.internet.defer import Deferred

from drivers.mail.html import MAX_HTML, clean_html, plain_text, too_costly

MAX_DEPTH = 20  # nested multiparts and forwarded messages
MAX_PARTS = 500  # leaves looked at in one mail
MAX_HEADER = 2000  # characters kept of one decoded header
MAX_FILE_NAME = 200
MAX_PROBLEMS = 50
# A Content-Type or Content-Disposition field (folded lines included) is cut here: the
# stdlib's parameter parser (email.message._parseparam, Python 3.11) copies the rest of
# the field for each parameter, so one of 1 MB ("a=b;" over and over) took 16 s, one of
# 25 MB hours. Real ones, a long file name in RFC 2231 pieces included, stay far below.
MAX_PARAM_FIELD = 4096


class HeadersOnly(bytes):
    """The header block of a message too large to fetch whole (the IMAP watcher hands one
    over when ImapSettings.max_bytes is set); ``size`` is the whole message's size.
    ``parse`` reads it as a message over the limit: headers only, ``too_large``."""

    size: int

    def __new__(cls, head: bytes, size: int) -> HeadersOnly:
        obj = super().__new__(cls, head)
        obj.size = size
        return obj


@dataclass(frozen=True)
class MailAttachment:
    """One attached file: its name made safe (no path, no control characters), the type the
    sender declared (never trusted: the caller checks the content), and its bytes."""

    file_name: str
    declared_type: str
    data: bytes


@dataclass
class ParsedMail:
    """A parsed mail. Message ids keep their angle brackets as in the headers
    (``<abc@example.cn>``); addresses are bare (``sue@example.cn``)."""

    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    from_name: str = ""
    from_addr: str = ""
    reply_to: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    html: str = ""  # sanitized (drivers/mail/html.py allowlist); "" when the mail has none
    attachments: list[MailAttachment] = field(default_factory=list)
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    list_unsubscribe: str = ""  # as it came (a mailing list's mail: never auto-answered)
    x_auto_response_suppress: str = ""
    return_path: str = ""
    # the SHA-256 (hex) of the raw bytes: what names a mail with no Message-ID, hashed
    # in the parse's thread (25 MB take a tenth of a second)
    raw_sha256: str = ""
    too_large: bool = False  # over max_bytes: headers only
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS and problem not in self.problems:
            self.problems.append(problem)


# --- charsets -----------------------------------------------------------------------------

_ALIASES = {
    "gb2312": "gb18030",
    "gb_2312": "gb18030",
    "gb_2312-80": "gb18030",
    "gb2312-80": "gb18030",
    "euc-cn": "gb18030",
    "euccn": "gb18030",
    "x-euc-cn": "gb18030",
    "csgb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "ms936": "gb18030",
    "windows-936": "gb18030",
    "chinese": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "csbig5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    # what browsers do: Latin-1 labels carry Windows-1252 (curly quotes, euro)
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "unknown-8bit": "",
    "x-unknown": "",
}


def _codec(charset: str | None) -> str:
    """The Python codec for a mail charset label ("" when unknown or not a text codec)."""
    label = (charset or "").strip().strip('"').lower()
    label = label.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*en
    if not label:
        return "ascii"
    if label in _ALIASES:
        return _ALIASES[label]
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError, TypeError):  # unknown, or a NUL in the label
        return ""
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return ""  # base64, rot13, idna...: a label, never a way to run a codec on us
    return info.name


# Python text codecs that are no mail charset (escape decoders, domain-name codecs)
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}
)


def decode_bytes(data: bytes, charset: str | None, mail: ParsedMail, where: str) -> str:
    """``data`` read as ``charset``; on a wrong or unknown label, UTF-8 when the bytes fit
    it, else replacement characters (noted)."""
    codec = _codec(charset)
    if codec:
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError, ValueError):
            pass
        if codec == "cp1252":
            return data.decode("latin-1")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if codec != "ascii":
            mail.note(f"{where}: charset {_shown(charset)} does not fit; read as UTF-8")
        return text
    if codec in ("", "ascii", "utf-8"):
        # the usual mislabel in Chinese mail: GBK bytes sent as UTF-8, ASCII or unlabelled
        chinese = _as_chinese(data)
        if chinese is not None:
            mail.note(f"{where}: charset {_shown(charset)} does not fit; read as GB18030")
            return chinese
    mail.note(f"{where}: charset {_shown(charset)} does not fit; unreadable bytes replaced")
    try:
        return data.decode(codec or "utf-8", errors="replace")
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def _is_cjk(c: str) -> bool:
    o = ord(c)
    return (
        0x4E00 <= o <= 0x9FFF  # unified ideographs
        or 0x3000 <= o <= 0x303F  # CJK punctuation
        or 0xFF00 <= o <= 0xFFEF  # full-width forms
        or 0x3400 <= o <= 0x4DBF  # extension A
    )


def _as_chinese(data: bytes) -> str | None:
    """``data`` as GB18030 when it decodes strictly and reads as Chinese (most of what is
    not ASCII is CJK); else None."""
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [c for c in text if ord(c) > 127]
    if wide and sum(map(_is_cjk, wide)) >= 0.9 * len(wide):
        return text
    return None


def _shown(value: str | None) -> str:
    return repr(_CONTROL.sub("", value or "")[:40])


# --- headers ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An RFC 2047 encoded word, also in the broken forms mailers send: inside quotes, next to
# other text without a space, with spaces in its text. Its text holds no "?" (Q encodes
# it): with ``.*?`` there, a header of unclosed words ("=?a?b?x" 32,000 times, 224 KB)
# took the regex 72 s holding the GIL (the reactor stood still), as each word's scan ran
# to the end of the header.
_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,60})\?([bBqQ])\?([^?]*)\?=")
_BETWEEN_WORDS = re.compile(r"(\?=)[ \t\r\n]+(?==\?[^?\s]{1,60}\?[bBqQ]\?)")


def _b64(text: bytes) -> bytes:
    """Base64 with broken padding and stray characters forgiven."""
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", text)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    return base64.b64decode(clean + b"=" * (-len(clean) % 4))


def _word(charset: str, kind: str, text: str, mail: ParsedMail) -> str:
    raw = text.encode("utf-8", "surrogateescape")
    try:
        if kind in "bB":
            data = _b64(raw)
        else:
            data = quopri.decodestring(raw.replace(b"_", b" "), header=False)
    except (binascii.Error, ValueError):
        mail.note("a header's encoded word is broken")
        return text
    return decode_bytes(data, charset, mail, "a header")


def _undo_8bit(value: str, mail: ParsedMail) -> str:
    """Raw 8-bit bytes in a header (surrogate escapes from the parser): UTF-8 when they fit,
    else GB18030 (the usual Chinese mailer's), noted."""
    if not any("\udc80" <= c <= "\udcff" for c in value):
        return value
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    mail.note("a header has raw 8-bit bytes that are not UTF-8; read as GB18030")
    return data.decode("gb18030", errors="replace")


def decode_header(value: str | None, mail: ParsedMail, *, limit: int = MAX_HEADER) -> str:
    """One header's text: unfolded, encoded words decoded, no control characters, bounded."""
    if not value:
        return ""
    value = _undo_8bit(str(value), mail)
    value = re.sub(r"\r?\n[ \t]", " ", value)
    value = _BETWEEN_WORDS.sub(r"\1", value)  # space between two encoded words is dropped
    value = _ENCODED_WORD.sub(lambda m: _word(m.group(1), m.group(2), m.group(3), mail), value)
    value = _ANY_CONTROL.sub(" ", value)
    return re.sub(r"\s+", " ", value).strip()[:limit]


_MSGID = re.compile(r"<[^<>\s]{1,500}>")


def _message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(_MSGID.findall(_ANY_CONTROL.sub(" ", str(value))))[:100]


def _message_id(value: str | None) -> str:
    ids = _message_ids(value)
    if ids:
        return ids[0]
    bare = _ANY_CONTROL.sub("", str(value or "")).strip()
    return f"<{bare}>" if bare and " " not in bare and len(bare) <= 500 else ""


_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\"]{1,200}@[^\s@<>()\[\],;:\"]{1,255}")


def _addresses(mail: ParsedMail, values: list[str]) -> list[tuple[str, str]]:
    """(name, address) pairs; names decoded, addresses checked (others dropped, noted)."""
    out: list[tuple[str, str]] = []
    words: list[str] = []

    def hide(m: re.Match[str]) -> str:
        # an encoded word may hide ':', '<' or ',' (a crafted name): the address parser
        # sees a plain token instead, and the name is decoded after it
        words.append(m.group(0))
        return f"ccboxword{len(words) - 1}x"

    try:
        texts = [_ENCODED_WORD.sub(hide, _undo_8bit(str(v), mail)) for v in values]
        pairs = email.utils.getaddresses(texts)
    except Exception:  # the stdlib's parser on hostile input
        mail.note("an address header could not be read")
        return out
    for name, addr in pairs[:200]:
        addr = _ANY_CONTROL.sub("", addr).strip()
        if not addr and not name:
            continue
        if not _ADDRESS.fullmatch(addr) or "ccboxword" in addr:
            mail.note(f"an address was not usable: {_shown(addr)}")
            continue
        name = re.sub(r"ccboxword(\d+)x", lambda m: words[int(m.group(1))], name)
        out.append((decode_header(name, mail, limit=200).strip('"').strip(), addr))
    return out


def _date(value: str | None, mail: ParsedMail) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(_ANY_CONTROL.sub(" ", str(value)))
    except (TypeError, ValueError, IndexError, OverflowError):
        mail.note("the Date header could not be read")
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


def _headers(msg: Message, mail: ParsedMail) -> None:
    # The raw values (8-bit bytes as surrogate escapes): get() would turn those into
    # replacement characters before we could read them as UTF-8 or GB18030.
    raw: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        raw.setdefault(str(name).lower(), []).append(str(value))

    def get(name: str) -> str | None:
        values = raw.get(name.lower())
        return values[0] if values else None

    def get_all(name: str) -> list[str]:
        return raw.get(name.lower(), [])

    mail.message_id = _message_id(get("Message-ID"))
    mail.in_reply_to = _message_id(get("In-Reply-To"))
    mail.references = _message_ids(get("References"))
    senders = _addresses(mail, get_all("From"))
    if senders:
        mail.from_name, mail.from_addr = senders[0]
    reply = _addresses(mail, get_all("Reply-To"))
    mail.reply_to = reply[0][1] if reply else ""
    mail.to = tuple(a for _, a in _addresses(mail, get_all("To")))
    mail.cc = tuple(a for _, a in _addresses(mail, get_all("Cc")))
    mail.subject = decode_header(get("Subject"), mail, limit=500)
    mail.date = _date(get("Date"), mail)
    mail.auto_submitted = decode_header(get("Auto-Submitted"), mail, limit=100).lower()
    mail.precedence = decode_header(get("Precedence"), mail, limit=100).lower()
    mail.list_id = decode_header(get("List-Id"), mail, limit=300)
    mail.x_auto_response_suppress = decode_header(get("X-Auto-Response-Suppress"), mail, limit=200)
    mail.list_unsubscribe = (get("List-Unsubscribe") or "").strip()[:500]
    returned = _addresses(mail, get_all("Return-Path"))
    mail.return_path = returned[0][1] if returned else ""
    if (get("Return-Path") or "").strip() == "<>":
        mail.return_path = "<>"  # a bounce: never answer it


# --- bodies -------------------------------------------------------------------------------


def _payload_bytes(part: Message, mail: ParsedMail, where: str) -> bytes:
    """A leaf's content with its transfer encoding undone (bad base64 forgiven, noted)."""
    # The parser's own text of the part (8-bit bytes as surrogate escapes): get_payload()
    # would already decode 8-bit text by its label, with no note when the label is wrong.
    payload = getattr(part, "_payload", None)
    if not isinstance(payload, str):
        return b""
    raw = payload.encode("utf-8", "surrogateescape")
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte == "base64":
        try:
            return _b64(raw)
        except (binascii.Error, ValueError):
            mail.note(f"{where}: broken base64")
            return b""
    if cte == "quoted-printable":
        return quopri.decodestring(raw)
    if cte in ("x-uuencode", "uuencode", "x-uue"):
        mail.note(f"{where}: uuencoded content kept as it came")
    return raw


_PATHISH = re.compile(r"^.*[/\\]")


def safe_file_name(name: str, fallback: str = "attachment") -> str:
    """A file name with no folder, no control characters, no leading dots, bounded."""
    name = _ANY_CONTROL.sub("", name)
    name = _PATHISH.sub("", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILE_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and len(ext) <= 10:
            name = stem[: MAX_FILE_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_FILE_NAME]
    return name or fallback


def _file_name(part: Message, mail: ParsedMail) -> str:
    try:
        name = part.get_filename()
    except Exception:
        mail.note("an attachment's file name could not be read")
        name = None
    if name is None:
        return ""
    name = str(name)
    if "=?" in name:
        name = decode_header(name, mail, limit=MAX_FILE_NAME * 2)
    return safe_file_name(_undo_8bit(name, mail), "")


def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:
        return "application/octet-stream"
    return (
        ctype
        if re.fullmatch(r"[a-z0-9!#$&^_.+-]{1,64}/[a-z0-9!#$&^_.+-]{1,64}", ctype)
        else ("application/octet-stream")
    )


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return str(charset) if charset else None


class _Walk:
    def __init__(self, mail: ParsedMail) -> None:
        self.mail = mail
        self.texts: list[str] = []
        self.htmls: list[str] = []
        self.leaves = 0

    def part(self, part: Message, depth: int) -> None:
        mail = self.mail
        if depth > MAX_DEPTH:
            mail.note(f"parts nested deeper than {MAX_DEPTH} were left out")
            return
        ctype = _content_type(part)
        if part.is_multipart():
            payload = part.get_payload()
            if ctype == "message/rfc822":
                for inner in payload if isinstance(payload, list) else []:
                    self.forwarded(inner, depth + 1)
                return
            for child in payload if isinstance(payload, list) else []:
                if isinstance(child, Message):
                    self.part(child, depth + 1)
            return
        self.leaves += 1
        if self.leaves > MAX_PARTS:
            mail.note(f"parts after the first {MAX_PARTS} were left out")
            return
        where = f"part {self.leaves} ({ctype})"
        data = _payload_bytes(part, mail, where)
        name = _file_name(part, mail)
        try:
            disposition = part.get_content_disposition() or ""
        except Exception:
            disposition = ""
        if ctype in ("text/plain", "text/html") and not name and disposition != "attachment":
            text = decode_bytes(data, _charset(part), mail, where)
            if "\x00" in text:
                mail.note(f"{where}: NUL characters removed")
                text = text.replace("\x00", "")
            (self.texts if ctype == "text/plain" else self.htmls).append(text)
            return
        if ctype.startswith("multipart/"):
            mail.note(f"{where}: a multipart without parts")
            return
        ext = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml"}.get(ctype, "")
        mail.attachments.append(
            MailAttachment(
                file_name=name or f"attachment-{len(mail.attachments) + 1}{ext}",
                declared_type=ctype,
                data=data,
            )
        )

    def forwarded(self, inner: object, depth: int) -> None:
        """A message/rfc822 part: its headers as a few lines of text, then its parts."""
        if not isinstance(inner, Message):
            return
        head = ParsedMail()
        _headers(inner, head)
        lines = ["---------- Forwarded message ----------"]
        if head.from_addr:
            lines.append(
                f"From: {head.from_name} <{head.from_addr}>".replace("From:  <", "From: <")
            )
        if head.subject:
            lines.append(f"Subject: {head.subject}")
        if head.date:
            lines.append(f"Date: {head.date.isoformat()}")
        self.texts.append("\n".join(lines))
        for problem in head.problems:
            self.mail.note(f"forwarded message: {problem}")
        self.part(inner, depth)


_PARAM_FIELD = re.compile(rb"(?im)^content-(?:type|disposition)[ \t]*:[^\n]*(?:\n[ \t][^\n]*)*")


def _cut_param_fields(raw: bytes, mail: ParsedMail) -> bytes:
    """``raw`` with every Content-Type and Content-Disposition field, of the message and
    of its parts, cut to ``MAX_PARAM_FIELD`` bytes at a parameter's end (noted)."""

    def cut(m: re.Match[bytes]) -> bytes:
        field = m.group(0)
        if len(field) <= MAX_PARAM_FIELD:
            return field
        mail.note(f"a Content-Type or Content-Disposition over {MAX_PARAM_FIELD} bytes was cut")
        head = field[:MAX_PARAM_FIELD]
        end = head.rfind(b";")
        return (head[:end] if end > 0 else head).rstrip()

    return _PARAM_FIELD.sub(cut, raw)


def _split_head(raw: bytes) -> bytes:
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = raw.find(sep)
        if at >= 0:
            return raw[: at + len(sep)]
    return raw[:65536]


def parse(raw: bytes, *, max_bytes: int) -> ParsedMail:
    """``raw`` (an RFC 5322 message) decoded; never raises on bad input. A message over
    ``max_bytes`` keeps its headers only, with ``too_large`` set."""
    mail = _parse(raw, max_bytes=max_bytes)
    mail.raw_sha256 = hashlib.sha256(raw).hexdigest()
    return mail


def _parse(raw: bytes, *, max_bytes: int) -> ParsedMail:
    mail = ParsedMail()
    if isinstance(raw, HeadersOnly):
        mail.too_large = True
        mail.note(f"the message is {raw.size} bytes, over the limit: body left out")
        raw = _split_head(bytes(raw)[: max(max_bytes, 65536)])
    elif len(raw) > max_bytes:
        mail.too_large = True
        mail.note(f"the message is {len(raw)} bytes, over the limit of {max_bytes}: body left out")
        raw = _split_head(raw[: max(max_bytes, 65536)])
    raw = _cut_param_fields(raw, mail)
    try:
        msg = email.message_from_bytes(raw)
    except RecursionError:
        mail.note("the message's parts are nested too deep to read: headers only")
        msg = email.message_from_bytes(_split_head(raw))
    except Exception as exc:  # the stdlib's parser on hostile input: keep what we can
        mail.note(f"the message could not be parsed ({type(exc).__name__}): headers only")
        try:
            msg = email.message_from_bytes(_split_head(raw))
        except Exception:
            return mail
    _headers(msg, mail)
    if mail.too_large or (mail.problems and "headers only" in mail.problems[-1]):
        return mail
    for defect in getattr(msg, "defects", [])[:5]:
        mail.note(f"malformed: {type(defect).__name__}")
    walk = _Walk(mail)
    try:
        walk.part(msg, 0)
    except RecursionError:
        mail.note("the message's parts are nested too deep: the rest was left out")
    mail.text = "\n\n".join(t.strip("\r\n") for t in walk.texts if t.strip()).replace("\r\n", "\n")
    if walk.htmls:
        raw_html = "\n".join(walk.htmls)
        costly = too_costly(raw_html)
        if costly:
            mail.note(f"the HTML {costly}: the text is kept")
            if not mail.text:
                mail.text = plain_text(raw_html)
            return mail
        html = clean_html(raw_html)
        if len(html) > MAX_HTML:
            mail.note("the HTML is too long to keep: the text is kept")
            html_text = plain_text(html)
            html = ""
        else:
            html_text = plain_text(html) if not mail.text else ""
        mail.html = html
        if not mail.text:
            mail.text = html_text
    return mail


def parse_in_thread(reactor: Any, raw: bytes, *, max_bytes: int) -> Deferred[ParsedMail]:
    """``parse`` in the reactor's thread pool: a mail of 25 MB takes the stdlib's parser
    about 1.5 s, which the reactor must never wait for."""
    return threads.deferToThreadPool(
        reactor, reactor.getThreadPool(), parse, raw, max_bytes=max_bytes
    )
