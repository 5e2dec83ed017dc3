"""One mail in: parsed, checked, threaded or routed, stored, answered once.

The order keeps every mail and answers none twice. Our own mails and duplicates (a
Message-ID already stored: the IMAP folder read again after a UIDVALIDITY change) are
dropped first. A reply joins its thread (by the ids it names, or the ``[#E<id>]`` in its
subject from the same sender) through the engine, which re-opens an ended thread. A new
mail is routed (routing.py), becomes a thread (the engine offers it like a chat), and gets
an auto-reply with its reference when loops.py and the per-address ledger allow it. A
sender that floods is stored but routes nothing more. Any failure before the mail is
stored fails :meth:`Ingest.take`: the watcher keeps the mail and offers it again; a mail
taken again after a failure half-way finds the thread it started (its own Message-ID is
that thread's key).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twisted.internet import defer
from twisted.logger import Logger

from acd.channels.conversation import NewMessage
from acd.channels.email import compose, loops, routing
from acd.channels.email import threading as th
from acd.channels.errors import ChannelError
from appliance.db.email_store import Account, EmailStore, Thread
from appliance.email_address import is_email
from appliance.uploads import StoredFile, UploadRefused
from drivers.mail.mime import ParsedMail, parse

if TYPE_CHECKING:
    from email.message import EmailMessage

log = Logger(namespace="ccbox.email")

ACTOR = "email"
TICKET_TYPE = "inquiry"
SUBJECT_MAX = 200
BODY_MAX = 200_000

PutFile = Callable[[bytes, str], "defer.Deferred[StoredFile]"]
SendMail = Callable[[Account, str, "EmailMessage"], "defer.Deferred[Any]"]
ParseMail = Callable[[bytes, int], "defer.Deferred[ParsedMail]"]


def parse_here(raw: bytes, max_bytes: int) -> defer.Deferred[ParsedMail]:
    """``mime.parse`` in the caller's thread (tests; the service parses in a thread)."""
    return defer.maybeDeferred(parse, raw, max_bytes=max_bytes)


class EngineStarting(Exception):
    """The engine cannot take a thread yet: the watcher keeps the mail for its retry."""


@dataclass
class Outcome:
    """What became of a mail (for the log and the tests)."""

    kind: str  # own, duplicate, appended, new, flood
    conversation_id: int | None = None
    message_row_id: int | None = None
    auto_reply: str = ""  # "sent", or why not
    then: Callable[[], Awaitable[str]] | None = None  # the auto-reply, after the lock
    notes: list[str] = field(default_factory=list)


def _mail_id(mail: ParsedMail, raw: bytes) -> str:
    """Its Message-ID, else the id of its bytes from the hash mime.parse made in the pool
    (hashing 25 MB here would hold the reactor)."""
    mid = th.norm_id(mail.message_id)
    if mid:
        return mid
    return th.id_of_sha256(mail.raw_sha256) if mail.raw_sha256 else th.id_of_raw(raw)


class Ingest:
    """Takes the mails of every account. ``channels``: the engine (start_email_thread,
    email_received); ``tickets``: a TicketStore (make_tickets); ``put_file`` stores an
    attachment's bytes (appliance/uploads.py: its type read from its content) off the
    reactor; ``send_mail(account, to, msg)`` sends through the account's SMTP server;
    ``parse_mail(raw, max_bytes)`` parses a mail (CPU-bound, 1.5 s over 25 MB: the service
    gives ``mime.parse_in_thread``)."""

    def __init__(
        self,
        *,
        store: EmailStore,
        channels: Any,
        put_file: PutFile,
        send_mail: SendMail,
        translators: Mapping[str, Callable[[str], str]],
        max_message_kb: int,
        auto_reply_interval_min: int,
        tickets: Any = None,
        clock: Callable[[], dt.datetime] | None = None,
        parse_mail: ParseMail = parse_here,
    ) -> None:
        self.store = store
        self.channels = channels
        self.put_file = put_file
        self.parse_mail = parse_mail
        self.send_mail = send_mail
        self.translators = translators
        self.max_bytes = max(1, max_message_kb) * 1024
        self.interval = dt.timedelta(minutes=max(0, auto_reply_interval_min))
        self.tickets = tickets
        self.clock = clock or store.clock
        self._lock = defer.DeferredLock()
        self.routes: list[routing.Route] = []
        self.own: set[str] = set()

    async def take(self, account: Account, raw: bytes) -> Outcome:
        """Store one mail of ``account``; raises (the mail is kept for a retry) when it
        could not be stored. One mail at a time, whatever its account: the same mail sent
        to two of our mailboxes is one thread (the second is a duplicate), and the flood
        count and the thread lookup never race with a mail being stored."""
        if not getattr(self.channels, "ready", True):
            # the engine is still loading: not "not routable" (that would park the thread)
            raise EngineStarting("the channels' engine is starting; the mail is taken later")
        mail = await self.parse_mail(raw, self.max_bytes)  # (outside the lock: the CPU part)
        await self._lock.acquire()
        try:
            out = await self._take(account, raw, mail)
        finally:
            self._lock.release()
        if out.then is not None:
            then, out.then = out.then, None
            out.auto_reply = await then()
        return out

    async def _take(self, account: Account, raw: bytes, mail: ParsedMail) -> Outcome:
        mid = _mail_id(mail, raw)
        sender = (mail.from_addr or "").strip().lower()
        own = self.own | {account.address.strip().lower()}
        if sender and sender in own:
            return Outcome("own")
        if await self.store.seen(mid):
            return Outcome("duplicate")
        now = self.clock()
        recent = await self.store.recent_from(sender, now - loops.FLOOD_WINDOW) if sender else 0
        ids = th.candidate_ids(mail.in_reply_to, mail.references)
        if loops.is_daemon_address(sender):
            # a bounce names the mail it returns in its body
            ids += [i for i in th.our_ids_in(raw) if i not in ids]
        thread = await self.store.find_thread(ids, th.reference_in(mail.subject), sender, mid)
        if loops.flooding(recent):
            return await self._flood(account, mail, mid, thread, sender)
        if thread is not None and thread.key == mid:
            return await self._resume(account, thread, mail, mid, sender)
        if thread is not None:
            return await self._append(thread, mail, mid)
        return await self._new_thread(account, mail, mid, sender)

    async def set_aside(self, account: Account, raw: bytes, error: str) -> int | None:
        """A mail the ingest failed on again and again for a reason that is no fault of the
        database or the engine (a bug, a mail nothing expected): kept as a thread of its
        own, not routed, with its first bytes as text and the error, so the account's later
        mails are no longer held behind it. Its id (None: it was set aside already)."""
        try:  # its own Message-ID when it can be read: a copy taken later is a duplicate
            key = _mail_id(await self.parse_mail(raw, self.max_bytes), raw)
        except Exception:  # mime.parse never raises on bad input: only a bug of ours
            key = th.id_of_raw(raw)
        if await self.store.seen(key):
            return None
        text = bytes(raw[:20_000]).decode("utf-8", "replace").replace("\x00", "")
        cid = await self.store.park_thread(
            account_id=account.id,
            queue_id=account.queue_id,
            name="",
            email="",
            subject="(a mail that could not be read)",
            language="",
            thread_key=key,
            customer_id=None,
            reason=f"set aside: {error}"[:200],
        )
        await self.store.append(
            cid,
            sender="customer",
            author="",
            body=f"[this mail could not be read: {error[:300]}]\n\n{text}",
            message_id=key,
        )
        log.error("e-mail {id} set aside after failing again and again: {why}", id=cid, why=error)
        return cid

    # ---- the three ways --------------------------------------------------------------

    async def _append(self, thread: Thread, mail: ParsedMail, mid: str) -> Outcome:
        out = Outcome("appended", thread.id)
        body, attachment_ids = await self._content(thread.id, mail, out)
        new = self._new_message(mail, mid, body, attachment_ids)
        try:
            message = await self.channels.email_received(thread.id, new)
            out.message_row_id = int(message.id)
        except ChannelError as exc:  # its queue takes no e-mail now: kept, not routed
            out.message_row_id = await self._keep(thread.id, new)
            out.notes.append(f"not routed: {exc.message}")
        await self._notes(thread.id, out)
        return out

    async def _keep(self, conversation_id: int, new: NewMessage) -> int:
        """The mail stored on its thread without the engine (nothing routed)."""
        return await self.store.append(
            conversation_id,
            sender="customer",
            author=new.author,
            body=new.body,
            html=new.html,
            message_id=new.message_id,
            in_reply_to=new.in_reply_to,
            attachment_ids=new.attachment_ids,
        )

    async def _flood(
        self,
        account: Account,
        mail: ParsedMail,
        mid: str,
        thread: Thread | None,
        sender: str,
    ) -> Outcome:
        """Stored on the thread (or the sender's last one), routed no more, noted once."""
        if thread is None:
            thread = await self.store.latest_thread_of(sender)
        if thread is None:  # cannot be: the flood's mails are stored in threads
            return await self._new_thread(account, mail, mid, sender)
        out = Outcome("flood", thread.id)
        body, attachment_ids = await self._content(thread.id, mail, out, keep_files=False)
        out.message_row_id = await self.store.append(
            thread.id,
            sender="customer",
            author=self._author(mail),
            body=body,
            html=mail.html,
            message_id=mid,
            in_reply_to=th.norm_id(mail.in_reply_to) or None,
            attachment_ids=attachment_ids,
        )
        if not await self.store.has_event(thread.id, "flood"):
            await self.store.event(
                thread.id,
                "flood",
                f"{sender}: {loops.FLOOD_MAILS} mails or more in"
                f" {int(loops.FLOOD_WINDOW.total_seconds() // 60)} minutes; not routed again",
            )
            log.warn(
                "e-mail from {sender} floods thread {id}: stored, not routed again",
                sender=sender,
                id=thread.id,
            )
        await self._notes(thread.id, out)
        return out

    async def _new_thread(
        self, account: Account, mail: ParsedMail, mid: str, sender: str
    ) -> Outcome:
        subject = compose.header_text(mail.subject, SUBJECT_MAX)
        language = compose.guess_language(mail.subject, mail.text)
        queue_id, chosen, customer_id = await self._route(account, mail, sender)
        now = self.clock()
        name = compose.header_text(mail.from_name, 128)
        parked = ""
        try:
            if queue_id is None:
                raise ChannelError("the account has no queue and no route matched")
            conversation = await self.channels.start_email_thread(
                queue_id=queue_id,
                account_id=account.id,
                name=name,
                email=sender[:254],
                subject=subject,
                language=language,
                thread_key=mid,
                due_at=now + dt.timedelta(minutes=max(0, account.sla_minutes)),
                customer_id=customer_id,
            )
            cid = int(conversation.id)
        except ChannelError as exc:
            # Not routable (no queue, or one that takes no e-mail): kept as a message with a
            # ticket, so a person sees it; never retried for ever, holding the mails after it.
            parked = exc.message
            cid = await self.store.park_thread(
                account_id=account.id,
                queue_id=queue_id,
                name=name,
                email=sender[:254],
                subject=subject,
                language=language,
                thread_key=mid,
                customer_id=customer_id,
                reason=parked[:200],
            )
            log.warn("e-mail thread {id} not routed: {why}", id=cid, why=parked)
        out = Outcome("new", cid)
        body, attachment_ids = await self._content(cid, mail, out)
        new = self._new_message(mail, mid, body, attachment_ids)
        if parked:
            out.message_row_id = await self._keep(cid, new)
        else:
            message = await self.channels.email_received(cid, new)
            out.message_row_id = int(message.id)
        await self._first_stored(
            account, mail, mid, out, chosen, queue_id, customer_id, parked=bool(parked)
        )
        return out

    async def _resume(
        self, account: Account, thread: Thread, mail: ParsedMail, mid: str, sender: str
    ) -> Outcome:
        """The mail that started ``thread`` taken again: a first take failed after the
        thread was made and before the mail was stored. Stored now, and what a new thread
        gets after its first mail (its route noted, its ticket, the auto-reply) done now."""
        out = await self._append(thread, mail, mid)
        out.kind, out.notes = "new", []  # (its notes are written already)
        _, chosen, customer_id = await self._route(account, mail, sender)
        await self._first_stored(
            account,
            mail,
            mid,
            out,
            chosen,
            thread.queue_id,
            customer_id,
            parked=thread.state == "message",
        )
        return out

    async def _route(
        self, account: Account, mail: ParsedMail, sender: str
    ) -> tuple[int | None, routing.Route | None, int | None]:
        """Where the first mail of a thread goes (the queue, the route that chose it:
        None for the account's queue) and the customer who sent it (None: not known)."""
        queue_id, chosen = routing.route(
            self.routes,
            account_id=account.id,
            default_queue_id=account.queue_id,
            sender=sender,
            subject=mail.subject,
            text=mail.text,
        )
        customer_id = await self.store.customer_by_email(sender) if sender else None
        return queue_id, chosen, customer_id

    async def _first_stored(
        self,
        account: Account,
        mail: ParsedMail,
        mid: str,
        out: Outcome,
        chosen: routing.Route | None,
        queue_id: int | None,
        customer_id: int | None,
        *,
        parked: bool,
    ) -> None:
        """After a new thread's first mail is stored: noted when it fails, never retried by
        a second take (the duplicate check would drop it)."""
        assert out.conversation_id is not None
        cid = out.conversation_id
        subject = compose.header_text(mail.subject, SUBJECT_MAX)
        language = compose.guess_language(mail.subject, mail.text)
        try:
            how = f"route {chosen.id} ({chosen.kind} {chosen.pattern})" if chosen else "account"
            await self.store.event(cid, "routed", how, queue_id)
            await self._notes(cid, out)
            if (account.make_tickets or parked) and self.tickets is not None:
                await self._ticket(cid, account, subject, mail, customer_id, queue_id)
        except Exception as exc:
            log.failure("e-mail thread {id}: after storing its first mail", id=cid)
            out.notes.append(f"{type(exc).__name__}: {exc}")
        # sent once the lock is let go: a slow or absent SMTP server holds up no other mail
        out.then = lambda: self._auto_reply(account, cid, mail, mid, language)

    # ---- parts ------------------------------------------------------------------------

    @staticmethod
    def _author(mail: ParsedMail) -> str:
        return compose.header_text(mail.from_name or mail.from_addr, 128)

    def _new_message(
        self, mail: ParsedMail, mid: str, body: str, attachment_ids: Sequence[int]
    ) -> NewMessage:
        return NewMessage(
            body=body,
            html=mail.html,
            author=self._author(mail),
            message_id=mid,
            in_reply_to=th.norm_id(mail.in_reply_to) or None,
            attachment_ids=tuple(attachment_ids),
        )

    async def _content(
        self, conversation_id: int, mail: ParsedMail, out: Outcome, keep_files: bool = True
    ) -> tuple[str, list[int]]:
        """The text to store (with notes of what was refused or cut) and the attachment
        rows of the files kept (stored by hash, their type read from their content). A
        flooding sender's files are not written (named in the text): the disk is not theirs
        to fill."""
        notes: list[str] = []
        if mail.too_large:
            notes.append(
                f"[the mail was larger than {self.max_bytes // 1024} KB:"
                " only its headers were kept]"
            )
        kept: list[tuple[str, str, int, str]] = []
        for part in mail.attachments:
            name = compose.header_text(part.file_name, 200) or "attachment"
            if not keep_files:
                notes.append(f"[attachment not kept (the sender floods): {name}]")
                continue
            try:
                stored = await self.put_file(part.data, name)
            except UploadRefused as exc:
                notes.append(f"[attachment refused: {name}: {exc}]")
                continue
            kept.append((stored.filename, stored.mime, stored.size, stored.sha256))
        out.notes += notes + [f"[{p}]" for p in mail.problems[:5]]
        ids = await self.store.add_attachments(conversation_id, kept) if kept else []
        body = (mail.text or "")[:BODY_MAX]
        if notes:
            body = (body.rstrip() + "\n\n" if body.strip() else "") + "\n".join(notes)
        return body, ids

    async def _notes(self, conversation_id: int, out: Outcome) -> None:
        for note in out.notes[:10]:
            await self.store.event(conversation_id, "mail_note", note)

    async def _ticket(
        self,
        conversation_id: int,
        account: Account,
        subject: str,
        mail: ParsedMail,
        customer_id: int | None,
        queue_id: int | None,
    ) -> None:
        queue = await self.store.queue_name(queue_id) if queue_id is not None else ""
        type_key = await self.store.ticket_type(TICKET_TYPE)
        ticket_id = await self.tickets.create(
            ACTOR,
            type_key=type_key,
            subject=f"{subject or '…'} [#E{conversation_id}]"[:SUBJECT_MAX],
            body=(mail.text or "")[:10_000],
            customer_id=customer_id,
            source="email",
            assignee_kind="queue" if queue else None,
            assignee=queue,
        )
        await self.store.link_ticket(conversation_id, int(ticket_id))

    async def _auto_reply(
        self,
        account: Account,
        conversation_id: int,
        mail: ParsedMail,
        mid: str,
        language: str,
    ) -> str:
        """The reference sent back once, or why not (noted on the thread)."""
        if not account.auto_reply:
            return "off"
        why = loops.no_auto_reply_reason(
            mail, self.own | {account.address.lower()}, mail.list_unsubscribe
        )
        if why is None and not is_email(mail.from_addr.strip()):
            why = "the sender's address cannot take mail"
        if why is None and loops.stale(mail.date, self.clock()):
            why = "an old mail (written more than a day before it was taken)"
        try:
            if why is None and not await self.store.claim_auto_reply(mail.from_addr, self.interval):
                why = "one auto-reply to this address in the interval already"
            if why is not None:
                await self.store.event(conversation_id, "no_auto_reply", why)
                return why
            sender = compose.Sender(account.address, account.display_name)
            reply_id = th.new_message_id(sender.domain)
            msg = compose.auto_reply(
                sender=sender,
                conversation_id=conversation_id,
                to_name=mail.from_name,
                to_addr=mail.from_addr.strip(),
                subject=mail.subject,
                answered_id=mid,
                answered_refs=mail.references,
                message_id=reply_id,
                language=language,
                custom_body=account.auto_reply_body,
                translators=self.translators,
                now=self.clock(),
            )
            await self.send_mail(account, mail.from_addr.strip(), msg)
            body = msg.get_content()
            await self.store.append(
                conversation_id,
                sender="system",
                author=compose.header_text(account.display_name or account.address, 128),
                body=str(body).strip(),
                message_id=reply_id,
                in_reply_to=mid,
            )
            await self.store.event(conversation_id, "auto_reply", mail.from_addr[:200])
            return "sent"
        except Exception as exc:
            reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"
            log.warn(
                "e-mail thread {id}: the auto-reply was not sent: {why}",
                id=conversation_id,
                why=reason,
            )
            try:
                await self.store.event(conversation_id, "send_failed", f"auto-reply: {reason}")
            except Exception:
                log.failure("noting a failed auto-reply")
            return f"failed: {reason}"


def own_addresses(accounts: Collection[Account], others: Collection[str]) -> set[str]:
    return {a.address.strip().lower() for a in accounts} | {o.strip().lower() for o in others}
