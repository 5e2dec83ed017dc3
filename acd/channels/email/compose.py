"""The mails the box writes: the auto-reply with the thread's reference, an agent's reply.

Both keep the thread in the customer's mail program: ``In-Reply-To`` the mail answered,
``References`` the thread's chain, the subject ``Re: <subject> [#E<id>]`` once. The
auto-reply says what it is (``Auto-Submitted: auto-replied``, RFC 3834, and
``X-Auto-Response-Suppress`` for Exchange) so other responders do not answer it. Names and
subjects come from strangers: control characters are dropped before they reach a header
(the SMTP policy would refuse a CR or LF; the mail must still go out), and so is an encoded
word's start ("=?"): the email package decodes an encoded word in a header value it is given,
and Python before 3.11.10 / 3.12.5 writes what it decoded as it is, CR LF and all, so a
stranger's "=?utf-8?q?x=0D=0ABcc:...?=" as a subject, a name, a file name or a Message-ID
would write headers (and a body) of its choosing into our mail.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from acd.channels.email import threading as th
from appliance.text import N_

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
QUOTE_CHARS = 4000
Translate = Callable[[str], str]


def header_text(value: str, limit: int = 200) -> str:
    """A stranger's text made safe for a header: one line, no control characters, no
    encoded word (its "=?" written "= ?")."""
    return " ".join(_CONTROL.sub(" ", value or "").replace("=?", "= ?").split())[:limit]


def _header_id(raw: str) -> str:
    """A Message-ID for our In-Reply-To or References: normalized; "" for one holding an
    encoded word's start (a customer's own Message-ID is any text they chose)."""
    mid = th.norm_id(raw)
    return "" if "=?" in mid else mid


def guess_language(*texts: str) -> str:
    """ "zh" when the text has Chinese in it (a few characters are enough: a Chinese mail
    mixes in English words, an English one has no hanzi), else "en"."""
    sample = "".join(t[:2000] for t in texts if t)
    return "zh" if len(_CJK.findall(sample)) >= 2 else "en"


@dataclass(frozen=True)
class Sender:
    """The account a mail goes out from."""

    address: str
    display_name: str

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1]


def _base(
    sender: Sender,
    to_name: str,
    to_addr: str,
    subject: str,
    message_id: str,
    in_reply_to: str,
    references: Sequence[str],
    now: dt.datetime,
) -> EmailMessage:
    msg = EmailMessage(policy=SMTP)
    # Address objects, never formataddr's text: the policy would parse an encoded name
    # back into words, and a name like 'x Bcc: a@b' would name another recipient.
    msg["From"] = Address(
        display_name=header_text(sender.display_name, 128), addr_spec=sender.address
    )
    msg["To"] = Address(display_name=header_text(to_name, 128), addr_spec=to_addr)
    msg["Subject"] = header_text(subject, 250)
    msg["Date"] = format_datetime(now.astimezone(dt.UTC))
    msg["Message-ID"] = message_id
    if _header_id(in_reply_to):
        msg["In-Reply-To"] = _header_id(in_reply_to)
    chain = th.chain(r for r in references if _header_id(r))
    if chain:
        msg["References"] = " ".join(chain)
    return msg


def quoted(text: str, author: str, when: dt.datetime | None, translate: Translate) -> str:
    """The last message quoted under a reply (``> `` lines), cut at QUOTE_CHARS."""
    body = (text or "").strip()
    if not body:
        return ""
    if len(body) > QUOTE_CHARS:
        body = body[:QUOTE_CHARS].rstrip() + " …"
    intro = (
        translate(
            N_("On {date}, {author} wrote:", date=f"{when:%Y-%m-%d %H:%M} UTC", author=author)
        )
        if when is not None
        else translate(N_("{author} wrote:", author=author))
    )
    lines = "\n".join("> " + line if line else ">" for line in body.splitlines())
    return f"{intro}\n{lines}"


def auto_reply(
    *,
    sender: Sender,
    conversation_id: int,
    to_name: str,
    to_addr: str,
    subject: str,
    answered_id: str,
    answered_refs: Sequence[str],
    message_id: str,
    language: str,
    custom_body: str,
    translators: Mapping[str, Translate],
    now: dt.datetime,
) -> EmailMessage:
    """The auto-reply to a new thread's first mail: the reference, in the mail's language
    (the account's own text when the admin wrote one, the reference line still added)."""
    translate = translators.get(language) or translators.get("en") or (lambda s: s)
    ref = f"[#E{int(conversation_id)}]"
    lines = [
        translate(N_("Thank you for your message. We have received it and will answer soon.")),
        "",
        translate(
            N_(
                "Your reference number is {reference}. Please keep it in the subject when you"
                " write to us about this matter.",
                reference=ref,
            )
        ),
        "",
        translate(N_("This is an automatic reply.")),
    ]
    text = custom_body.strip() + "\n\n" + lines[2] if custom_body.strip() else "\n".join(lines)
    if ref not in text:
        text += "\n\n" + ref
    msg = _base(
        sender,
        to_name,
        to_addr,
        th.reply_subject(subject, conversation_id),
        message_id,
        answered_id,
        [*answered_refs, answered_id],
        now,
    )
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text + "\n", charset="utf-8")
    return msg


def agent_reply(
    *,
    sender: Sender,
    conversation_id: int,
    to_name: str,
    to_addr: str,
    subject: str,
    text: str,
    in_reply_to: str,
    references: Sequence[str],
    message_id: str,
    quote: str,
    now: dt.datetime,
    files: Sequence[tuple[str, str, bytes]] = (),
) -> EmailMessage:
    """An agent's reply: the text, then the customer's last mail quoted; ``files`` (name,
    type as read from the content, bytes) attached."""
    body = (text or "").rstrip()
    if quote:
        body += "\n\n" + quote
    msg = _base(
        sender,
        to_name,
        to_addr,
        th.reply_subject(subject, conversation_id),
        message_id,
        in_reply_to,
        references,
        now,
    )
    msg.set_content(body + "\n", charset="utf-8")
    for name, mime, data in files:
        main, _, sub = mime.partition("/")
        msg.add_attachment(
            data,
            maintype=main or "application",
            subtype=sub or "octet-stream",
            filename=header_text(name, 200) or "attachment",
        )
    return msg
