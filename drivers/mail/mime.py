"""One e-mail as the box keeps it: headers decoded, plain text, sanitized HTML, attachments.

``parse`` never raises on what a sender wrote: a broken part becomes a note in
``ParsedMail.problems`` and the rest is kept. Everything in a mail is attacker-controlled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MailAttachment:
    """One attached file: its name made safe (no path, no control characters), the type the
    sender declared (never trusted: the caller checks the content), and its bytes."""

    file_name: str
    declared_type: str
    data: bytes


@dataclass
class ParsedMail:
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
    html: str = ""  # sanitized (appliance.rich_text allowlist); "" when the mail has none
    attachments: list[MailAttachment] = field(default_factory=list)
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    x_auto_response_suppress: str = ""
    return_path: str = ""
    too_large: bool = False  # over max_bytes: headers only
    problems: list[str] = field(default_factory=list)


def parse(raw: bytes, *, max_bytes: int) -> ParsedMail:
    """``raw`` (an RFC 5322 message) decoded; never raises on bad input."""
    raise NotImplementedError("H4a: being written")
