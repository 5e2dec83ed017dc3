"""E-mail about new voicemail, with the audio attached, through the configured SMTP server.

Twisted's own SMTP client sends it (no thread, no blocking). Caller ID is attacker-
controlled: it is stripped of control characters before it goes into a header (no header
injection) and the body is plain text. A mail that cannot be sent is logged; the message
itself is already stored and listed, so nothing is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from twisted.internet import threads
from twisted.logger import Logger
from twisted.mail import smtp

from appliance.config import SmtpConfig

log = Logger(namespace="ccbox.ivr.mail")
MAX_ATTACHMENT = 10 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean(value: str, limit: int = 80) -> str:
    """Header-safe text: no control characters (CR/LF above all), no encoded word (its
    "=?" written "= ?": Python 3.11 before 3.11.10 decodes one in a header value it is
    given and writes the CR LF it decoded), bounded."""
    return _CONTROL.sub(" ", value).replace("=?", "= ?")[:limit].strip()


@dataclass(frozen=True)
class Notice:
    """What the mail says: the message and who left it (caller ID: attacker-controlled)."""

    to: str
    mailbox: str
    caller_number: str
    caller_name: str
    seconds: float
    received: str


def build_message(
    cfg: SmtpConfig, notice: Notice, audio: bytes | None, audio_name: str
) -> EmailMessage:
    msg = EmailMessage()
    number, name = clean(notice.caller_number), clean(notice.caller_name)
    msg["Subject"] = f"New voicemail in mailbox {notice.mailbox} from {number or 'unknown'}"
    msg["From"] = cfg.sender
    msg["To"] = notice.to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=cfg.sender.rsplit("@", 1)[-1])
    lines = [
        f"Mailbox: {notice.mailbox}",
        f"From: {number or 'unknown'} {name}".rstrip(),
        f"Received: {notice.received}",
        f"Length: {notice.seconds:.0f} s",
        "",
        "The message is attached." if audio is not None else "The audio file is not attached.",
    ]
    msg.set_content("\n".join(lines))
    if audio is not None:
        msg.add_attachment(audio, maintype="audio", subtype="wav", filename=audio_name)
    return msg


def _read(path: Path) -> bytes | None:
    try:
        if path.stat().st_size > MAX_ATTACHMENT:
            return None
        return path.read_bytes()
    except OSError:
        return None


async def notify(reactor: Any, cfg: SmtpConfig, notice: Notice, audio_path: Path | None) -> bool:
    """Send the notification; False (and a log line) when it could not be sent."""
    if not cfg.host or not notice.to:
        return False
    audio = await threads.deferToThread(_read, audio_path) if audio_path is not None else None
    msg = build_message(cfg, notice, audio, "voicemail.wav")
    return await send(reactor, cfg, [notice.to], msg, "voicemail e-mail")


async def send(
    reactor: Any, cfg: SmtpConfig, recipients: list[str], msg: EmailMessage, what: str
) -> bool:
    """Send ``msg`` through the configured SMTP server (Twisted's client: no thread, no
    blocking); False (and a log line naming ``what``) when it could not be sent. The
    scheduled reports (appliance/reports/schedule.py) send through it too."""
    if not cfg.host or not recipients:
        return False
    d = smtp.sendmail(
        cfg.host,
        cfg.sender,
        recipients,
        msg.as_bytes(),
        port=cfg.port,
        reactor=reactor,
        username=cfg.username.encode() or None,
        password=cfg.password.encode() or None,
        requireAuthentication=bool(cfg.username),
        requireTransportSecurity=cfg.starttls,
    )
    d.addTimeout(cfg.timeout_s, reactor)
    try:
        await d
    except Exception as exc:
        log.warn("{what} to {to} not sent: {why}", what=what, to=", ".join(recipients), why=exc)
        return False
    return True
