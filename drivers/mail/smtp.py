"""Mail out: one message through the configured SMTP server with Twisted's ESMTP client (no
thread): implicit TLS for "tls", STARTTLS required for "starttls", plain for "none"."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from twisted.internet.defer import Deferred


class MailSendError(Exception):
    """The message was not sent; ``reason`` says why (safe to show an admin)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # "tls" | "starttls" | "none"
    user: str = ""
    password: str = ""
    timeout_s: float = 30.0


def send(
    reactor: Any,
    settings: SmtpSettings,
    sender: str,
    recipients: list[str],
    msg: EmailMessage,
) -> Deferred[None]:
    """Send ``msg`` (envelope ``sender`` -> ``recipients``); fails with MailSendError."""
    raise NotImplementedError("H4a: being written")
