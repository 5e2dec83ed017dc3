"""Which thread a mail belongs to, and how our own mails name theirs.

A reply is matched by the ids it names (``In-Reply-To``, then ``References`` newest first)
against the Message-IDs stored on the thread's messages, then by the reference ``[#E<id>]``
our subjects carry (a customer who writes a fresh mail quoting the number). Never by the
subject's words alone: two customers both asking "Invoice" are two threads.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

# A Message-ID as stored (conversation_messages.message_id is 255 long).
MAX_ID = 255
# The ids a reply's References may name that we look up; the chain we send.
MAX_LOOKUP = 30
MAX_CHAIN = 20
REFERENCE = re.compile(r"\[#E(\d{1,12})\]")
# "Re:", "RE:", "Aw:", "Fwd:", "回复:", "答复:", "转发:" (full-width colon too), repeated.
_PREFIX = re.compile(r"^\s*(?:(?:re|aw|fw|fwd|sv|回复|答复|回覆|转发)\s*[:\uff1a]\s*)+", re.I)
_SPACES = re.compile(r"\s+")


def norm_id(raw: str) -> str:
    """A Message-ID in its header form ``<local@domain>``; "" for none (or nonsense: spaces,
    too long)."""
    inner = (raw or "").strip().strip("<>").strip()
    if not inner or any(ch.isspace() for ch in inner) or len(inner) + 2 > MAX_ID:
        return ""
    return f"<{inner}>"


def id_of_raw(raw: bytes) -> str:
    """An id for a mail that has no Message-ID: the same bytes name the same mail, so a
    mail taken twice (the IMAP folder read again) is still known as a duplicate."""
    return id_of_sha256(hashlib.sha256(raw).hexdigest())


def id_of_sha256(digest: str) -> str:
    """id_of_raw from the raw mail's SHA-256 (hex), as mime.parse gives it."""
    return f"<{digest[:40]}@no-message-id.ccbox>"


def candidate_ids(in_reply_to: str, references: Iterable[str]) -> list[str]:
    """The ids a mail answers, the most likely first (its In-Reply-To, then its References
    newest first), normalized, without repeats, at most MAX_LOOKUP."""
    out: list[str] = []
    for raw in [in_reply_to, *reversed(list(references))]:
        mid = norm_id(raw)
        if mid and mid not in out:
            out.append(mid)
        if len(out) >= MAX_LOOKUP:
            break
    return out


def reference_in(subject: str) -> int | None:
    """The thread number ``[#E<id>]`` in a subject (the last one named), or None."""
    found = REFERENCE.findall(subject or "")
    return int(found[-1]) if found else None


def base_subject(subject: str) -> str:
    """The subject without reply prefixes and our reference, spaces folded."""
    text = REFERENCE.sub(" ", subject or "")
    text = _PREFIX.sub("", _SPACES.sub(" ", text).strip())
    return _SPACES.sub(" ", text).strip()


def reply_subject(subject: str, conversation_id: int, *, limit: int = 200) -> str:
    """``Re: <subject> [#E<id>]``: one "Re:", one reference, however many rounds it went."""
    tag = f" [#E{int(conversation_id)}]"
    base = base_subject(subject)
    head = "Re: " + base if base else "Re:"
    return head[: max(0, limit - len(tag))].rstrip() + tag


def chain(ids: Iterable[str], limit: int = MAX_CHAIN) -> list[str]:
    """A References chain from the thread's ids (oldest first): the first id kept (it names
    the thread) and the newest ones, at most ``limit``, without repeats."""
    seen: list[str] = []
    for raw in ids:
        mid = norm_id(raw)
        if mid and mid not in seen:
            seen.append(mid)
    if len(seen) <= limit:
        return seen
    return [seen[0], *seen[len(seen) - limit + 1 :]]


def our_message_id(message_row_id: int, domain: str, secret: str = "") -> str:
    """The Message-ID of the mail we send for one stored message: the same on every retry
    of that message (a receiver that got the first try drops the second). ``secret`` (the
    thread's first Message-ID, which only its correspondents saw) makes it unguessable, so
    a stranger cannot name it in References to write into someone else's thread."""
    dom = domain.strip().strip(".") or "ccbox.invalid"
    tag = hashlib.sha256(f"{secret}\0{int(message_row_id)}".encode()).hexdigest()[:16]
    return f"<ccbox.{int(message_row_id)}.{tag}@{dom}>"


def new_message_id(domain: str) -> str:
    """A fresh Message-ID for a mail that is not a stored message's (an auto-reply)."""
    dom = domain.strip().strip(".") or "ccbox.invalid"
    return f"<ccbox.a.{secrets.token_hex(12)}@{dom}>"


# Our Message-IDs (our_message_id, new_message_id) inside a bounce's returned message.
_OURS = re.compile(rb"<ccbox\.(?:a\.[0-9a-f]{24}|[0-9]{1,12}\.[0-9a-f]{16})@[A-Za-z0-9.-]{1,253}>")
BOUNCE_SCAN = 1 << 20


def our_ids_in(raw: bytes) -> list[str]:
    """The Message-IDs of our own mails named anywhere in ``raw`` (its first MB): a bounce
    carries the mail it returns, and so the thread it belongs to."""
    found: list[str] = []
    for m in _OURS.finditer(raw[:BOUNCE_SCAN]):
        mid = m.group(0).decode("ascii")
        if mid not in found:
            found.append(mid)
    return found[:MAX_LOOKUP]
