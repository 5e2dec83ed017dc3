"""LoopbackMailServer: IMAP4rev1 (twisted.mail.imap4) and ESMTP (twisted.mail.smtp) on
loopback, in memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred


@dataclass(frozen=True)
class SentMail:
    sender: str
    recipients: tuple[str, ...]
    data: bytes


class LoopbackMailServer:
    """``users`` maps a login to its password. ``start()`` listens on free loopback ports
    (``imap_port``, ``smtp_port``); ``deliver(user, raw)`` drops a mail into the user's
    INBOX and returns its UID; ``sent`` lists what the SMTP side received;
    ``new_uidvalidity(user)`` renumbers a mailbox (as a server does after a rebuild)."""

    def __init__(self, reactor: Any, users: dict[str, str], *, idle: bool = True) -> None:
        raise NotImplementedError("H4a: being written")

    def start(self, host: str = "127.0.0.1", imap_port: int = 0, smtp_port: int = 0) -> None:
        raise NotImplementedError

    def deliver(self, user: str, raw: bytes) -> int:
        raise NotImplementedError

    def new_uidvalidity(self, user: str) -> int:
        raise NotImplementedError

    @property
    def sent(self) -> list[SentMail]:
        raise NotImplementedError

    def stop(self) -> Deferred[None]:
        raise NotImplementedError
