"""When the box must not answer a mail by itself: mail loops with other auto-responders.

Two machines that answer every mail answer each other for ever. RFC 3834 says who must not
be answered (``Auto-Submitted`` other than "no", an empty ``Return-Path``), lists and bulk
mail say so in their headers, Exchange asks with ``X-Auto-Response-Suppress``; daemons and
no-reply senders never read answers; our own accounts never get one. What slips through
(a responder that marks nothing) is held by the rate: one auto-reply per address per
interval (email_store.claim_auto_reply, checked and written in one transaction), and a
sender that floods (``FLOOD_MAILS`` in ``FLOOD_WINDOW``) stops opening or re-opening
threads (email_store.recent_from).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from typing import Protocol

FLOOD_MAILS = 20
FLOOD_WINDOW = dt.timedelta(minutes=10)
# A mail written longer ago than this gets no auto-reply: a mailbox watched for the first
# time (or another mailbox given to an account) hands over its whole history, whose
# senders wrote long ago and expect no answer from a machine now.
STALE_AFTER = dt.timedelta(days=1)
_DAEMON_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?|"
    r"listserv|majordomo|auto[-_.]?reply|autoresponder)([+-].*)?$",
    re.I,
)
_BULK = ("bulk", "junk", "list", "auto_reply")


class Headers(Protocol):
    """What the check reads of a parsed mail (drivers/mail/mime.ParsedMail)."""

    from_addr: str
    auto_submitted: str
    precedence: str
    list_id: str
    x_auto_response_suppress: str
    return_path: str


def is_daemon_address(address: str) -> bool:
    local = (address or "").strip().rsplit("@", 1)[0]
    return bool(_DAEMON_LOCAL.match(local))


def no_auto_reply_reason(
    mail: Headers, own_addresses: Collection[str], list_unsubscribe: str = ""
) -> str | None:
    """Why this mail must get no auto-reply (a short reason kept on the thread), or None."""
    auto = (mail.auto_submitted or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = (mail.precedence or "").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    if (mail.list_id or "").strip() or list_unsubscribe.strip():
        return "a mailing list"
    if (mail.x_auto_response_suppress or "").strip():
        return "X-Auto-Response-Suppress"
    return_path = mail.return_path
    if return_path is not None and return_path.strip() in ("<>", "<", ">"):
        return "an empty Return-Path (a bounce)"
    sender = (mail.from_addr or "").strip().lower()
    if not sender or "@" not in sender:
        return "no sender address"
    if is_daemon_address(sender):
        return "a mail daemon's or a no-reply address"
    if sender in {a.strip().lower() for a in own_addresses}:
        return "one of our own addresses"
    return None


def flooding(recent_count: int) -> bool:
    """Whether an address that sent ``recent_count`` mails in the last FLOOD_WINDOW floods."""
    return recent_count >= FLOOD_MAILS


def stale(sent_at: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether a mail's Date says it was written before STALE_AFTER (no Date: not stale)."""
    if sent_at is None:
        return False
    if sent_at.tzinfo is None:
        sent_at = sent_at.replace(tzinfo=dt.UTC)
    return sent_at < now - STALE_AFTER
